using System.Text.Json;
using System.Text.RegularExpressions;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Serialization;
using TrapReplace.Tests.Shared;

namespace TrapReplace.Experiments.Tests;

public sealed partial class ArchitectureTests
{
    // Data flows one way: a spec picks data and an attack, a defense runs on them, the run is evaluated into a result,
    // results are reported. A folder may use its own rank and those below, never one above.
    private static readonly Dictionary<string, int> Rank = new(StringComparer.Ordinal)
    {
        ["Specs"] = 0, ["Serialization"] = 0, ["Logging"] = 0,
        ["Splits"] = 1,
        ["Poisoning"] = 2,
        ["Defenses"] = 3,
        ["Results"] = 4,
        ["Running"] = 5,
        ["Reporting"] = 6,
    };

    [Fact]
    public void Every_folder_of_the_experiments_library_uses_only_the_folders_below_it()
    {
        var root = Path.Combine(RepositoryRoot(), "src", "TrapReplace.Experiments");
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        files.Should().NotBeEmpty();

        var backEdges = new List<string>();
        foreach (var file in files)
        {
            var folder = Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar)[0];
            Rank.Should().ContainKey(folder, $"{file} is in a folder the layering does not know; give it a rank here");
            foreach (Match m in ExperimentsNamespace().Matches(File.ReadAllText(file)))
            {
                var used = m.Groups[1].Value;
                Rank.Should().ContainKey(used, $"{file} names TrapReplace.Experiments.{used}");
                if (Rank[used] > Rank[folder]) backEdges.Add($"{folder}/{Path.GetFileName(file)} -> {used}");
            }
        }
        backEdges.Should().BeEmpty();
    }

    [Fact]
    public void The_result_file_schema_is_pinned()
    {
        var json = JsonSerializer.SerializeToElement(SampleResults.Result("badnets", "trap-replace", 0, 0.8, 0.02, new Metrics(0.81, 1.0, 0.0)), ExperimentJson.Options);

        // Adding, renaming or removing a field is a schema change: bump CellResult.Schema and say so in docs/results.md.
        json.GetProperty("schema").GetInt32().Should().Be(2);
        json.EnumerateObject().Select(p => p.Name).Should().Equal(
            "schema", "dataset", "backbone", "attack", "defense", "seed", "profile", "target_class", "poison_ratio", "poison_ratio_of",
            "poisoned_count", "clean_accuracy", "attack_success_rate", "robust_accuracy", "undefended", "der", "exact_test",
            "triggered_prediction_share", "per_class_accuracy", "test_count", "triggered_count", "untrusted_count", "holdout_count", "epochs",
            "train_seconds", "stage1_seconds", "defense_seconds", "evaluation_seconds", "images_per_second", "stage1_reused", "curves", "options",
            "versions", "threads", "device", "finished_utc");
        json.GetProperty("undefended").EnumerateObject().Select(p => p.Name).Should().Equal("clean_accuracy", "attack_success_rate", "robust_accuracy");
        json.GetProperty("versions").EnumerateObject().Select(p => p.Name).Should().Equal("trap_replace", "torch_sharp", "libtorch", "dotnet", "os", "processor_count", "cpu");
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TrapReplace.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find TrapReplace.sln above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"TrapReplace\.Experiments\.([A-Za-z]+)")]
    private static partial Regex ExperimentsNamespace();
}

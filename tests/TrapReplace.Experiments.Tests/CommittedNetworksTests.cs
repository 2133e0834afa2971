using System.Text.Json;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Serialization;
using TrapReplace.Trapping;

namespace TrapReplace.Experiments.Tests;

public sealed class CommittedNetworksTests
{
    // The runner reuses a committed stage-1 network only when its record's options equal the options it would train
    // with now, field by field in JSON; a type change that serializes differently (the device once became an object)
    // would send every committed network to retraining. Reading each record into today's options and writing it back
    // must give the same JSON.
    [Fact]
    public void Every_committed_stage1_record_reads_into_todays_options_and_writes_back_unchanged()
    {
        var cache = Path.Combine(RepositoryRoot(), "docs", "results-full-bf16", Stage1Cache.FolderName);
        var records = Directory.GetFiles(cache, "*.json");
        records.Should().HaveCountGreaterThan(10, "the full-profile networks are committed");

        foreach (var path in records)
        {
            var record = JsonSerializer.Deserialize<Stage1Record>(File.ReadAllText(path), ExperimentJson.Options)!;
            var options = record.Options.Deserialize<TrapTrainerOptions>(ExperimentJson.Options)!;
            var again = JsonSerializer.SerializeToNode(options, ExperimentJson.Options)!.AsObject();

            Stage1Cache.FirstDifference(record.Options, again).Should().BeNull(Path.GetFileName(path));
            record.Options["device"]!.GetValue<string>().Should().Be("cpu");
        }
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TrapReplace.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find TrapReplace.sln above " + AppContext.BaseDirectory);
    }
}

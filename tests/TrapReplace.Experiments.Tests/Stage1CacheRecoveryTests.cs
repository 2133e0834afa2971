using System.Text.Json.Nodes;
using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;
using TrapReplace.Tests.Shared;
using TrapReplace.Training;

namespace TrapReplace.Experiments.Tests;

/// <summary>
/// What the stage-1 cache does with an entry or checkpoint it cannot trust, in process: nothing damaged or stale is
/// reused, nothing is deleted (it is moved aside, beside the entry), the observer is told why, and the cell still
/// completes by training stage 1 again.
/// </summary>
[Collection(CellRuns.Name)]
public sealed class Stage1CacheRecoveryTests(SyntheticCifar10 data) : IClassFixture<SyntheticCifar10>
{
    private const string EntryKey = "cifar10.wrn16-1.smoke.badnets-grid-t0-r0.1.plain.seed0.threads2.channels-last";

    private static CellSpec Cell(string defense) => new(ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.Parse("badnets-grid"),
        DefenseCatalog.Parse(defense), 0, ExperimentProfile.Smoke);

    private async Task<(CellResult Result, List<string> Notes)> Run(string output, string defense)
    {
        var settings = new RunSettings(new DataLocation(data.Root, "synthetic", MayDownload: false, MirrorBaseUri: null), output, 2, ComputeDevice.Cpu);
        var observer = new NoteObserver();
        var result = await new CellRunner(settings, observer).RunAsync(Cell(defense), CancellationToken.None);
        return (result, observer.Notes);
    }

    [Fact]
    public async Task A_damaged_entry_is_moved_aside_with_a_notice_and_stage1_trains_again()
    {
        using var output = new TempFolder();
        await Run(output.Path, "none");
        var model = Path.Combine(output.Path, Stage1Cache.FolderName, EntryKey + ".model");
        var bytes = File.ReadAllBytes(model);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(model, bytes);

        var (result, notes) = await Run(output.Path, "replace-only");

        notes.Should().Contain(n => n.Contains("is not usable (the SHA-256 of", StringComparison.Ordinal) && n.Contains("moved aside and stage 1 trains again", StringComparison.Ordinal));
        File.ReadAllBytes(model + ".damaged").Should().Equal(bytes, "the damaged network is kept beside the entry, not deleted");
        result.Stage1Reused.Should().BeFalse();
        ResultFiles.Read(Path.Combine(output.Path, Cell("replace-only").FileName)).Options["stage1"]!["checkpoint_directory"]!.GetValue<string>()
            .Should().NotStartWith("/", "result files hold paths relative to the results folder");
    }

    [Fact]
    public async Task An_entry_trained_with_other_options_is_moved_aside_as_stale_and_not_reused()
    {
        using var output = new TempFolder();
        await Run(output.Path, "none");
        var record = Path.Combine(output.Path, Stage1Cache.FolderName, EntryKey + ".json");
        var model = Path.ChangeExtension(record, ".model");
        // As if the profile's schedule had changed since the entry was trained: same key, other weight decay.
        var json = JsonNode.Parse(File.ReadAllText(record))!.AsObject();
        json["options"]!["weight_decay"] = 0.123;
        File.WriteAllText(record, json.ToJsonString());

        var (result, notes) = await Run(output.Path, "replace-only");

        notes.Should().Contain(n => n.Contains("it was trained with other options (weight_decay: 0.123 -> 0.0005)", StringComparison.Ordinal));
        File.Exists(model + ".stale").Should().BeTrue("the superseded network is kept, not overwritten");
        File.Exists(record + ".stale").Should().BeTrue();
        result.Stage1Reused.Should().BeFalse();
        result.Options["stage1"]!["weight_decay"]!.GetValue<double>().Should().Be(5e-4);
    }

    [Fact]
    public async Task A_damaged_stage1_checkpoint_is_named_moved_aside_and_stage1_starts_again()
    {
        using var output = new TempFolder();
        var training = Path.Combine(output.Path, Stage1Cache.FolderName, EntryKey + ".training");
        Directory.CreateDirectory(training);
        var checkpoint = Path.Combine(training, "trap.ckpt");
        byte[] damaged = [.. "TRCKPT02"u8, 1, 2, 3];
        File.WriteAllBytes(checkpoint, damaged);

        var (result, notes) = await Run(output.Path, "replace-only");

        notes.Should().Contain(n => n.Contains($"the checkpoint {checkpoint} is not usable", StringComparison.Ordinal) && n.Contains("the stage starts again", StringComparison.Ordinal));
        File.ReadAllBytes(Path.Combine(output.Path, Stage1Cache.FolderName, EntryKey + ".trap.ckpt.damaged")).Should().Equal(damaged,
            "the damaged file is kept beside the entry, not deleted");
        result.Stage1Reused.Should().BeFalse();
        File.Exists(Path.Combine(output.Path, Cell("replace-only").FileName)).Should().BeTrue();
    }

    private sealed class NoteObserver : IRunObserver
    {
        public List<string> Notes { get; } = [];

        public void PhaseStarted(string phase, string title, int epochs)
        {
        }

        public void Step(string phase, int epoch, int step, int steps, double loss, double imagesPerSecond)
        {
        }

        public void EpochDone(CurvePoint point, int epochs, double imagesPerSecond, double seconds)
        {
        }

        public void Note(string message) => Notes.Add(message);
    }
}

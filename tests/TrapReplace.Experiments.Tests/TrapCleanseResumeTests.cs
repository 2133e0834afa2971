using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;
using TrapReplace.Tests.Shared;
using TrapReplace.Training;

namespace TrapReplace.Experiments.Tests;

/// <summary>
/// A trap-cleanse cell stopped inside its cleansing round resumes from the checkpoints the runner gave it (first
/// replacement, the round's continued stage 1 and replacement) and ends as the uninterrupted cell did.
/// </summary>
[Collection(CellRuns.Name)]
public sealed class TrapCleanseResumeTests
{
    // Smoke's data proportions with enough images and epochs that the trap learns the synthetic data's backdoor and the
    // scan finds suspects, so a cleansing round runs (smoke itself stops at "no target inferred"). One round: the stop
    // falls inside it, and a second would only repeat its scan and training in each of the three runs.
    private static readonly ExperimentProfile Profile = ExperimentProfile.Smoke with { PoolCount = 2500, Stage1Epochs = 3, DefenseEpochs = 3, CleansingRounds = 1 };

    [Fact]
    public async Task A_cell_stopped_in_its_cleansing_round_resumes_to_the_numbers_and_curve_of_an_uninterrupted_one()
    {
        using var data = new SyntheticCifar10();
        using var output = new TempFolder();
        var spec = new CellSpec(ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.Parse("badnets"), DefenseCatalog.Parse("trap-cleanse"), 0, Profile);
        var settings = new RunSettings(new DataLocation(data.Root, "synthetic", MayDownload: false, MirrorBaseUri: null), output.Path, 2, ComputeDevice.Cpu);
        string resultPath = Path.Combine(output.Path, spec.FileName);

        var expected = await new CellRunner(settings, new StageObserver()).RunAsync(spec, CancellationToken.None);
        expected.Options["defense"]!["cleansed"]!.GetValue<bool>().Should().BeTrue("the test needs a cleansing round to interrupt");
        File.Delete(resultPath); // the stage-1 network stays cached, so every run starts from the same one

        using var stop = new CancellationTokenSource();
        var stopper = new StageObserver((stage, epochOfStage) =>
        {
            if (stage == "replace-round-1" && epochOfStage == 2) stop.Cancel();
        });
        await FluentActions.Awaiting(() => new CellRunner(settings, stopper).RunAsync(spec, stop.Token)).Should().ThrowAsync<OperationCanceledException>();
        File.Exists(resultPath).Should().BeFalse();
        var work = Path.ChangeExtension(resultPath, ".training");
        Directory.EnumerateFiles(work, "*.ckpt", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(work, f).Split(Path.DirectorySeparatorChar)[0])
            .Distinct().Should().BeEquivalentTo(["first-replacement", "cleansing"], "both phases left checkpoints");

        var resumedObserver = new StageObserver();
        var resumed = await new CellRunner(settings, resumedObserver).RunAsync(spec, CancellationToken.None);

        resumedObserver.Notes.Should().Contain(n => n.StartsWith("the defense resumes from", StringComparison.Ordinal));
        resumedObserver.Stages.Should().NotContain("trap-round-1", "the round's continued stage 1 finished before the stop and is read back");
        (resumed.CleanAccuracy, resumed.AttackSuccessRate, resumed.RobustAccuracy).Should().Be((expected.CleanAccuracy, expected.AttackSuccessRate, expected.RobustAccuracy));
        resumed.Curves.Where(c => c.Phase == "defense").Should().Equal(expected.Curves.Where(c => c.Phase == "defense"), "every phase's points, the restored ones included");
        Directory.Exists(work).Should().BeFalse("a finished cell removes its checkpoints");
    }

    /// <summary>
    /// Records the defense's stages and notes; calls back after each defense epoch with its stage and its number within
    /// the stage (the curve numbers the defense's epochs across all its stages).
    /// </summary>
    private sealed class StageObserver(Action<string, int>? epochDone = null) : IRunObserver
    {
        private string? stage;
        private int epochOfStage;

        public List<string> Stages { get; } = [];

        public List<string> Notes { get; } = [];

        public void PhaseStarted(string phase, string title, int epochs)
        {
            // The runner titles a defense's sub-stage "Title [stage]".
            int open = title.LastIndexOf('[');
            if (phase != "defense" || open < 0) return;
            stage = title[(open + 1)..^1];
            epochOfStage = 0;
            Stages.Add(stage);
        }

        public void Step(string phase, int epoch, int step, int steps, double loss, double imagesPerSecond)
        {
        }

        public void EpochDone(CurvePoint point, int epochs, double imagesPerSecond, double seconds)
        {
            if (point.Phase == "defense" && stage is not null) epochDone?.Invoke(stage, ++epochOfStage);
        }

        public void Note(string message) => Notes.Add(message);
    }
}

using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;

namespace TrapReplace.Experiments.Tests;

public sealed class DefenseCurveTests
{
    // A point whose clean accuracy names the run that measured it (0 the interrupted run, 1 the resumed one).
    private static Func<int, CurvePoint> Measured(int run) => number => new CurvePoint("defense", number, 0, 0, run, null);

    private static List<KeyedCurvePoint> Interrupted(params (string Stage, int Epoch)[] epochs) =>
        epochs.Select((e, i) => new KeyedCurvePoint(KeyedCurvePoint.KeyOf(e.Stage, e.Epoch), Measured(0)(i + 1))).ToList();

    private static IEnumerable<(string Key, int Number, double Run)> Read(DefenseCurve curve) =>
        curve.Points.Select(p => (p.Key, p.Point.Epoch, p.Point.CleanAccuracy));

    [Fact]
    public void Without_an_interrupted_run_points_are_numbered_in_the_order_they_are_measured()
    {
        var curve = new DefenseCurve([]);
        curve.Add("replace", 0, Measured(1));
        curve.Add("trap-round-1", 0, Measured(1));
        curve.Add("replace-round-1", 0, Measured(1));
        curve.Finish();

        Read(curve).Should().Equal(("replace#0", 1, 1.0), ("trap-round-1#0", 2, 1.0), ("replace-round-1#0", 3, 1.0));
    }

    [Fact]
    public void A_phase_that_resumes_mid_way_keeps_its_earlier_epochs_and_remeasures_the_unsaved_one()
    {
        // ABL: one phase, numbered on across the run; the checkpoint had epoch 1 unsaved, so it runs again.
        var curve = new DefenseCurve(Interrupted(("abl-isolation", 0), ("abl-isolation", 1)));
        curve.Add("abl-isolation", 1, Measured(1));
        curve.Add("abl-isolation", 2, Measured(1));
        curve.Finish();

        Read(curve).Should().Equal(("abl-isolation#0", 1, 0.0), ("abl-isolation#1", 2, 1.0), ("abl-isolation#2", 3, 1.0));
    }

    [Fact]
    public void Whole_phases_restored_from_checkpoints_keep_their_points_in_place()
    {
        // trap-cleanse killed during its second head replacement: the first replacement and the continued stage 1
        // resume complete and measure nothing; the replacement resumes at epoch 1.
        var curve = new DefenseCurve(Interrupted(("replace", 0), ("replace", 1), ("trap-round-1", 0), ("replace-round-1", 0)));
        curve.Add("replace-round-1", 1, Measured(1));
        curve.Add("replace-round-1", 2, Measured(1));
        curve.Finish();

        Read(curve).Should().Equal(("replace#0", 1, 0.0), ("replace#1", 2, 0.0), ("trap-round-1#0", 3, 0.0), ("replace-round-1#0", 4, 0.0),
            ("replace-round-1#1", 5, 1.0), ("replace-round-1#2", 6, 1.0));
    }

    [Fact]
    public void A_phase_run_again_from_its_start_replaces_its_points_and_what_nothing_measures_again_ends_the_curve()
    {
        var curve = new DefenseCurve(Interrupted(("replace", 0), ("replace", 1), ("trap-round-1", 0)));
        curve.Add("replace", 0, Measured(1));
        curve.Add("replace", 1, Measured(1));
        curve.Finish();

        Read(curve).Should().Equal(("replace#0", 1, 1.0), ("replace#1", 2, 1.0), ("trap-round-1#0", 3, 0.0));
    }
}

public sealed class DefenseWorkFolderTests
{
    [Fact]
    public void Checkpoints_in_nested_folders_keep_the_curve_and_nested_damaged_files_outlive_the_folder()
    {
        using var results = new TrapReplace.Tests.Shared.TempFolder();
        var work = new DefenseWorkFolder(results.Path, "cell.json");
        var point = new KeyedCurvePoint("replace#0", new CurvePoint("defense", 1, 0.5, 0.25, 0.75, 0.1));
        work.SaveCurves([point]);
        work.LoadCurves().Should().BeEmpty("without a checkpoint to resume the old points are stale");

        work.SaveCurves([point]);
        var round = Path.Combine(work.Directory, "cleansing", "round-1-0123456789abcdef", "continue");
        Directory.CreateDirectory(round);
        File.WriteAllText(Path.Combine(round, "trap.ckpt"), "checkpoint");
        work.LoadCurves().Should().Equal([point], "trap-cleanse keeps its checkpoints one folder per phase");

        // An older version's work folder held bare points: not trusted as keyed ones.
        File.WriteAllText(Path.Combine(work.Directory, "defense-curves.json"), """[{"phase": "defense", "epoch": 1, "loss": 0.5, "train_accuracy": 0.25, "clean_accuracy": 0.75, "attack_success_rate": 0.1}]""");
        work.LoadCurves().Should().BeEmpty();

        File.WriteAllText(Path.Combine(round, "trap.ckpt.damaged"), "kept for inspection");
        work.Remove();
        Directory.Exists(work.Directory).Should().BeFalse();
        File.ReadAllText(Path.Combine(results.Path, $"{Path.GetFileName(work.Directory)}.cleansing.round-1-0123456789abcdef.continue.trap.ckpt.damaged"))
            .Should().Be("kept for inspection");
    }
}

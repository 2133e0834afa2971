using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;
using TrapReplace.Tests.Shared;
using TrapReplace.Training;

namespace TrapReplace.Experiments.Tests;

/// <summary>Cells of the smoke profile run in process through <see cref="CellRunner"/>, on synthetic CIFAR-10- and
/// GTSRB-format data: what the library does for each defense. The runner's process behaviour (exit codes, signals,
/// kills, resumes of a killed process) is tested through the real command in TrapReplace.Cli.Tests.</summary>
[Collection(CellRuns.Name)]
public sealed class CellRunnerTests(SyntheticCifar10 data) : IClassFixture<SyntheticCifar10>
{
    private async Task<CellResult> Run(string attack, string defense, string dataRoot, ExperimentDataset? dataset = null)
    {
        using var output = new TempFolder();
        var spec = new CellSpec(dataset ?? ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.Parse(attack), DefenseCatalog.Parse(defense), 0,
            ExperimentProfile.Smoke);
        var settings = new RunSettings(new DataLocation(dataRoot, "synthetic", MayDownload: false, MirrorBaseUri: null), output.Path, 2, ComputeDevice.Cpu);
        var result = await new CellRunner(settings, new SilentObserver()).RunAsync(spec, CancellationToken.None);
        ResultFiles.Read(Path.Combine(output.Path, spec.FileName)).Should().BeEquivalentTo(result, o => o.ComparingByMembers<CellResult>().Excluding(r => r.Options),
            "the result file holds what the runner returned");
        return result;
    }

    [Theory]
    [InlineData("fine-pruning", "prune_ratio")]
    [InlineData("nad", "stem_attention_weight")]
    [InlineData("abl", "isolated_poisoned_fraction")]
    [InlineData("anp", "threshold")]
    [InlineData("i-bau", "fixed_point_steps")]
    public async Task Peer_defenses_run_from_the_normally_trained_model(string defense, string recordedOption)
    {
        var result = await Run("badnets", defense, data.Root);

        result.Defense.Should().Be(defense);
        result.CleanAccuracy.Should().BeInRange(0, 1);
        result.AttackSuccessRate.Should().BeInRange(0, 1);
        result.Undefended.Should().NotBeNull("the normally trained model is the reference");
        result.Epochs.Defense.Should().BePositive();
        result.Options["defense"]![recordedOption].Should().NotBeNull();
        result.Curves.Should().Contain(c => c.Phase == "defense");
    }

    [Fact]
    public async Task A_defense_seed_reruns_only_the_defense_from_the_same_stage1_network()
    {
        using var output = new TempFolder();
        var settings = new RunSettings(new DataLocation(data.Root, "synthetic", MayDownload: false, MirrorBaseUri: null), output.Path, 2, ComputeDevice.Cpu);
        var spec = new CellSpec(ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.Parse("badnets"), DefenseCatalog.TrapReplace, 0, ExperimentProfile.Smoke);
        var reseededSpec = spec with { DefenseSeed = 1 };

        var first = await new CellRunner(settings, new SilentObserver()).RunAsync(spec, CancellationToken.None);
        var reseeded = await new CellRunner(settings, new SilentObserver()).RunAsync(reseededSpec, CancellationToken.None);

        reseeded.Stage1Reused.Should().BeTrue("the poison and stage 1 follow the cell's seed");
        (reseeded.PoisonedCount, reseeded.Undefended).Should().Be((first.PoisonedCount, first.Undefended), "both defended the same trapped network");
        (first.DefenseSeed, reseeded.DefenseSeed).Should().Be((null, 1));
        var (before, after) = (first.Options["defense"]!, reseeded.Options["defense"]!);
        (before["data_seed"]!.GetValue<long>(), after["data_seed"]!.GetValue<long>()).Should().Be((0, 1), "batch order, augmentation and the validation split follow the defense seed");
        after["model_seed"]!.GetValue<long>().Should().NotBe(before["model_seed"]!.GetValue<long>(), "the new head's weights too");
        ResultFiles.Read(Path.Combine(output.Path, reseededSpec.FileName)).DefenseSeed.Should().Be(1);
        File.ReadAllText(Path.Combine(output.Path, spec.FileName)).Should().NotContain("defense_seed", "files of cells without one are unchanged");
        ResultFiles.IsFinished(output.Path, spec).Should().BeTrue();
        ResultFiles.IsFinished(output.Path, spec with { DefenseSeed = 2 }).Should().BeFalse();
    }

    [Fact]
    public async Task Trap_cleanse_reports_its_scan_measured_against_the_true_poison_after_the_defense()
    {
        var result = await Run("badnets", "trap-cleanse", data.Root);

        var defense = result.Options["defense"]!;
        var scan = defense["scan"]!;
        scan["reference_count"]!.GetValue<int>().Should().BePositive("the threshold comes from the holdout's validation images");
        scan["reference_false_positive_rate"]!.GetValue<double>().Should().BeInRange(0, 0.01 + 1e-9);
        scan["poisoned"]!.GetValue<int>().Should().Be(result.PoisonedCount);
        scan["precision"]!.GetValue<double>().Should().BeInRange(0, 1);
        scan["recall"]!.GetValue<double>().Should().BeInRange(0, 1);
        scan["target_correct"].Should().NotBeNull();
        bool attempted = defense["cleansing_skipped_because"] is null;
        bool cleansed = defense["cleansed"]!.GetValue<bool>();
        if (attempted)
            cleansed.Should().Be(defense["cleansing_undone_because"] is null, "a cleansing is kept unless it cost too much validation accuracy or scored lower");
        if (attempted && cleansed && defense["first_estimated_attack_success"] is { } firstEstimate)
        {
            // Kept only when it is no worse than Trap and Replace by what the defender can measure.
            bool continued = defense["kept_continued_network"]!.GetValue<bool>();
            double finalAccuracy = defense[continued ? "continued_validation_accuracy" : "selected_validation_accuracy"]!.GetValue<double>();
            double finalEstimate = defense[continued ? "continued_estimated_attack_success" : "selected_estimated_attack_success"]!.GetValue<double>();
            double firstAccuracy = defense["first_validation_accuracy"]!.GetValue<double>();
            (finalAccuracy - finalEstimate).Should().BeGreaterThan(firstAccuracy - firstEstimate.GetValue<double>());
            finalAccuracy.Should().BeGreaterThanOrEqualTo(firstAccuracy - 0.03);
        }
        else
            (cleansed, scan["inferred_target"] is null || scan["suspects"]!.GetValue<int>() == 0).Should().Be((false, true), "without a target or suspects there is nothing to cleanse");
        int rounds = attempted ? defense["rounds"]!.AsArray().Count : 0;
        if (attempted)
        {
            rounds.Should().BeInRange(1, 2);
            // Dirty-label when the target's labels exceed the holdout's share by at least half the suspects (smoke's tiny
            // networks may infer a wrong target, so the verdict is checked against its own counts).
            var labelling = defense["suspects_labelling"]!;
            labelling["labelling"]!.GetValue<string>().Should().Be(labelling["excess_per_suspect"]!.GetValue<double>() >= 0.5 ? "dirty_label" : "clean_label");
            (labelling["excess_per_suspect"]!.GetValue<double>() * scan["suspects"]!.GetValue<int>())
                .Should().BeApproximately(labelling["target_labelled"]!.GetValue<int>() - labelling["expected_target_labelled"]!.GetValue<double>(), 1e-6);
            // What the choice gave up, measured after it: the networks not returned, each with test metrics.
            var candidates = defense["candidates"]!.AsObject();
            bool continued = defense["kept_continued_network"]!.GetValue<bool>();
            var expected = new List<string> { continued ? "replaced_head" : "continued_network" };
            if (cleansed) expected.Add("trap_and_replace");
            else expected.Add(continued ? "continued_network" : "replaced_head");
            candidates.Select(c => c.Key).Should().BeEquivalentTo(expected.Distinct());
            foreach (var (_, metrics) in candidates)
            {
                metrics!["clean_accuracy"]!.GetValue<double>().Should().BeInRange(0, 1);
                metrics["attack_success_rate"]!.GetValue<double>().Should().BeInRange(0, 1);
            }
        }
        result.Curves.Where(c => c.Phase == "defense").Should().HaveCount(1 + (2 * rounds), "first replacement, then per round a continued stage 1 and a replacement");
        result.Undefended.Should().NotBeNull("the trapped head is the reference");
    }

    [Fact]
    public async Task Gtsrb_runs_through_the_same_pipeline()
    {
        using var gtsrb = new TempFolder();
        var folder = Path.Combine(gtsrb.Path, "gtsrb-32x32-bin");
        Directory.CreateDirectory(folder);
        var random = new Random(2);
        foreach (var (name, count) in new[] { ("train.bin", 2_150), ("test.bin", 860) })
        {
            using var file = File.Create(Path.Combine(folder, name));
            var record = new byte[3073];
            for (int i = 0; i < count; i++)
            {
                record[0] = (byte)(i % 43);
                for (int p = 1; p < record.Length; p++) record[p] = (byte)((i % 43) * 5 + random.Next(0, 40));
                file.Write(record);
            }
        }

        var result = await Run("badnets-grid", "trap-replace", gtsrb.Path, ExperimentDataset.Gtsrb);

        result.Dataset.Should().Be("gtsrb");
        result.PerClassAccuracy.Should().HaveCount(43);
        result.HoldoutCount.Should().Be(430, "the smoke pool grows to 50 images per class so stage 2 can carve a validation split");
        result.AttackSuccessRate.Should().BeInRange(0, 1);
    }

    private sealed class SilentObserver : IRunObserver
    {
        public void PhaseStarted(string phase, string title, int epochs)
        {
        }

        public void Step(string phase, int epoch, int step, int steps, double loss, double imagesPerSecond)
        {
        }

        public void EpochDone(CurvePoint point, int epochs, double imagesPerSecond, double seconds)
        {
        }

        public void Note(string message)
        {
        }
    }
}

/// <summary>Test classes that run whole cells (two threads each) run one at a time. (The assembly runs every class one at
/// a time anyway, TestParallelization.cs; the collection keeps the grouping explicit.)</summary>
[CollectionDefinition(Name)]
public sealed class CellRuns
{
    public const string Name = "cell runs";
}

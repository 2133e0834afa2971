using System.Text.Json.Nodes;
using TrapReplace.Experiments.Reporting;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;
using TrapReplace.Runtime;
using TrapReplace.Tests.Shared;

namespace TrapReplace.Experiments.Tests;

public sealed class SpecAndReportTests
{
    private static readonly CellSpec Template = new(ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.None, DefenseName.None, 0, ExperimentProfile.Quick);

    [Fact]
    public void Bf16_on_a_cpu_without_native_bf16_is_run_with_a_notice_that_says_it_is_emulated()
    {
        var cpu = TrapReplace.Training.ComputeDevice.Cpu;
        CellRunner.PrecisionNotice(Precision.BFloat16, cpu, nativeBf16Flag: null).Should()
            .Be("this CPU has no native bf16 (neither avx512_bf16 nor amx_bf16): bf16 autocast runs emulated, slower than fp32 (--precision auto picks fp32 here)");
        CellRunner.PrecisionNotice(Precision.BFloat16, cpu, "avx512_bf16").Should().BeNull();
        CellRunner.PrecisionNotice(Precision.BFloat16, cpu, "amx_bf16").Should().BeNull();
        CellRunner.PrecisionNotice(Precision.Float32, cpu, nativeBf16Flag: null).Should().BeNull();
    }

    [Fact]
    public void The_memory_layout_is_part_of_the_stage1_identity_and_the_standard_layout_keeps_the_old_keys()
    {
        var cell = Template with { Attack = AttackName.Parse("badnets") };

        Stage1Cache.Key(cell, 2, channelsLast: false).Should().Be("cifar10.wrn16-1.quick.badnets-t0-r0.1.plain.seed0.threads2");
        Stage1Cache.Key(cell, 2, channelsLast: true).Should().Be("cifar10.wrn16-1.quick.badnets-t0-r0.1.plain.seed0.threads2.channels-last");
        Stage1Cache.Key(cell, 2, channelsLast: true, TrapReplace.Runtime.Precision.BFloat16)
            .Should().Be("cifar10.wrn16-1.quick.badnets-t0-r0.1.plain.seed0.threads2.channels-last.bf16", "bf16 networks never stand in for float32 ones");
    }

    [Fact]
    public void Clean_label_attacks_default_to_a_target_class_ratio()
    {
        (Template with { Attack = AttackName.Parse("sig") }).ResolvedRatio.Should().Be(0.8);
        (Template with { Attack = AttackName.Parse("badnets") }).ResolvedRatio.Should().Be(0.1);
        (Template with { Attack = AttackName.Parse("badnets"), PoisonRatio = 0.05 }).AttackTag.Should().Be("badnets-t0-r0.05");
        (Template with { Attack = AttackName.None }).AttackTag.Should().Be("none");
    }

    [Fact]
    public void A_record_identifies_its_cell_by_every_identity_field()
    {
        var spec = Template with { Attack = AttackName.Parse("blend"), Defense = TrapReplace.Experiments.Defenses.DefenseCatalog.Parse("fine-tune"), Seed = 2 };
        spec.Identifies("cifar10", "wrn16-1", "blend", "fine-tune", 2, null, "quick").Should().BeTrue();
        spec.Identifies("gtsrb", "wrn16-1", "blend", "fine-tune", 2, null, "quick").Should().BeFalse();
        spec.Identifies("cifar10", "wrn16-1", "sig", "fine-tune", 2, null, "quick").Should().BeFalse();
        spec.Identifies("cifar10", "wrn16-1", "blend", "nad", 2, null, "quick").Should().BeFalse();
        spec.Identifies("cifar10", "wrn16-1", "blend", "fine-tune", 0, null, "quick").Should().BeFalse();
        spec.Identifies("cifar10", "wrn16-1", "blend", "fine-tune", 2, null, "full").Should().BeFalse();
        spec.Identifies("cifar10", "wrn16-1", "blend", "fine-tune", 2, 5, "quick").Should().BeFalse("a defense seed makes another cell");
        (spec with { DefenseSeed = 5 }).Identifies("cifar10", "wrn16-1", "blend", "fine-tune", 2, 5, "quick").Should().BeTrue();
    }

    [Fact]
    public void A_defense_seed_names_its_own_file_and_label_and_leaves_the_stage1_identity_alone()
    {
        var spec = Template with { Attack = AttackName.Parse("badnets"), Defense = TrapReplace.Experiments.Defenses.DefenseCatalog.TrapReplace };
        var reseeded = spec with { DefenseSeed = 2 };

        reseeded.FileName.Should().Be("cifar10.wrn16-1.quick.badnets-t0-r0.1.trap-replace.seed0.defense-seed2.json");
        spec.FileName.Should().Be("cifar10.wrn16-1.quick.badnets-t0-r0.1.trap-replace.seed0.json", "cells without one keep their names");
        (reseeded.SeedLabel, spec.SeedLabel).Should().Be(("0/d2", "0"));
        (reseeded.EffectiveDefenseSeed, spec.EffectiveDefenseSeed).Should().Be((2, 0));
        Stage1Cache.Key(reseeded, 2).Should().Be(Stage1Cache.Key(spec, 2), "the poison and stage 1 follow --seed");
        reseeded.Validate().Should().BeEmpty();
        (spec with { DefenseSeed = -1 }).Validate().Should().Equal("--defense-seed must be >= 0; got -1");
        (spec with { DefenseSeed = 0 }).Validate().Should().Equal("--defense-seed 0 is the same as --seed, which the defense uses anyway; leave it out");
        (spec with { Defense = DefenseName.None, DefenseSeed = 1 }).Validate().Should().Equal("--defense-seed needs a defense: defense 'none' has no randomness of its own");
    }

    [Fact]
    public void Defense_seed_cells_join_their_row_labelled_and_cells_csv_gives_the_defense_seed()
    {
        var results = new[]
        {
            SampleResults.Result("badnets", "trap-replace", 0, 0.70, 0.02, new Metrics(0.79, 0.97, 0.02)) with { DefenseSeed = 2 },
            SampleResults.Result("badnets", "trap-replace", 0, 0.74, 0.04, new Metrics(0.79, 0.97, 0.02)),
            SampleResults.Result("badnets", "trap-replace", 0, 0.72, 0.03, new Metrics(0.79, 0.97, 0.02)) with { DefenseSeed = 1 },
        };

        var row = SummaryRow.Build(results).Single();

        row.Seeds.Should().Equal("0", "0/d1", "0/d2");
        row.CleanAccuracy.Mean.Should().BeApproximately(0.72, 1e-12);
        ReportWriter.Markdown([row]).Should().Contain("| badnets (0.1) | trap-replace | 0,0/d1,0/d2 | 72.0 ± 2.0 |");
        using var folder = new TempFolder();
        ReportWriter.Write(results.Select(r => ("unused.json", r)).ToList(), folder.Path);
        var cells = File.ReadAllLines(Path.Combine(folder.Path, "cells.csv"));
        cells[0].Should().StartWith("dataset,backbone,profile,attack,target_class,poison_ratio,defense,seed,defense_seed,clean_accuracy,");
        cells.Skip(1).Select(l => l.Split(',')[8]).Should().Equal("", "1", "2");
    }

    [Theory]
    [InlineData(Precision.Float32, "fp32")]
    [InlineData(Precision.BFloat16, "bf16")]
    public void Precision_names_round_trip(Precision precision, string name)
    {
        PrecisionName.Of(precision).Should().Be(name);
        PrecisionName.TryParse(name, out var read).Should().BeTrue();
        read.Should().Be(precision);
    }

    [Theory]
    [InlineData("BF16")]
    [InlineData("float32")]
    [InlineData("")]
    [InlineData(null)]
    public void Other_precision_names_are_refused(string? name) => PrecisionName.TryParse(name, out _).Should().BeFalse();

    [Fact]
    public void Validate_names_every_bad_number()
    {
        (Template with { Seed = -1, TargetClass = 10, PoisonRatio = 0 }).Validate().Should().Equal(
            "--ratio must be in (0, 1]; got 0", "--seed must be >= 0; got -1", "--target must be in [0, 9] for cifar10; got 10");
        (Template with { Dataset = ExperimentDataset.Gtsrb, TargetClass = 43 }).Validate().Should().Equal("--target must be in [0, 42] for gtsrb; got 43");
        (Template with { Dataset = ExperimentDataset.Gtsrb, TargetClass = 42 }).Validate().Should().BeEmpty();
    }

    [Fact]
    public void A_name_is_checked_once_where_it_is_parsed_and_the_error_lists_the_choices()
    {
        var parses = new (Func<object> Parse, string Message)[]
        {
            (() => ExperimentDataset.Parse("mnist"), "unknown --dataset 'mnist'; choose one of cifar10, gtsrb"),
            (() => BackboneName.Parse("vgg"), "unknown --backbone 'vgg'; choose one of " + string.Join(", ", BackboneName.Choices)),
            (() => AttackName.Parse("x"), "unknown --attack 'x'; choose one of " + string.Join(", ", AttackName.Choices)),
            (() => TrapReplace.Experiments.Defenses.DefenseCatalog.Parse("y"), "unknown --defense 'y'; choose one of " + string.Join(", ", TrapReplace.Experiments.Defenses.DefenseCatalog.Names)),
            (() => ExperimentProfile.Parse("slow"), "unknown --profile 'slow'; choose one of " + string.Join(", ", ExperimentProfile.All.Select(p => p.Name))),
            (() => AttackName.Parse(null), "unknown --attack ''; choose one of " + string.Join(", ", AttackName.Choices)),
        };
        foreach (var (parse, message) in parses)
            parse.Should().Throw<UsageException>().WithMessage(message);

        AttackName.Parse("none").Should().BeSameAs(AttackName.None);
        TrapReplace.Experiments.Defenses.DefenseCatalog.Parse("none").Should().BeSameAs(DefenseName.None);
        AttackName.Parse("sig").IsCleanLabel.Should().BeTrue();
        AttackName.Parse("blend").Should().Be(AttackName.Parse("blend"), "names compare by value");
        ExperimentProfile.Parse("full-short").Should().BeSameAs(ExperimentProfile.FullShort);
        $"{ExperimentProfile.FullShort} {ExperimentDataset.Gtsrb} {AttackName.Parse("wanet")}".Should().Be("full-short gtsrb wanet", "a typed name prints as the name");
        BackboneName.Choices.Should().Contain("wrn16-1").And.NotContain("wrn-16-1");
    }

    [Fact]
    public void Stat_is_mean_and_sample_standard_deviation()
    {
        var s = Stat.Of([0.2, 0.4, null, 0.9])!;
        s.Count.Should().Be(3);
        s.Mean.Should().BeApproximately(0.5, 1e-12);
        s.Std.Should().BeApproximately(Math.Sqrt((0.09 + 0.01 + 0.16) / 2), 1e-12);
        Stat.Of([0.3])!.Std.Should().Be(0);
        Stat.Of([null]).Should().BeNull();
    }

    [Fact]
    public void Markdown_pivots_attack_by_defense_with_mean_and_std()
    {
        var results = new[]
        {
            SampleResults.Result("badnets", "none", 0, 0.80, 0.98, null),
            SampleResults.Result("badnets", "none", 1, 0.82, 1.00, null),
            SampleResults.Result("badnets", "trap-replace", 0, 0.75, 0.02, new Metrics(0.79, 0.97, 0.02)),
            SampleResults.Result("badnets", "trap-replace", 1, 0.77, 0.04, new Metrics(0.81, 0.99, 0.01)),
        };

        var markdown = ReportWriter.Markdown(SummaryRow.Build(results));

        markdown.Should().Contain("| attack | none | trap-replace |");
        markdown.Should().Contain("| badnets (0.1) | 81.0 ± 1.4 / 99.0 ± 1.4 | 76.0 ± 1.4 / 3.0 ± 1.4 |");
        markdown.Should().Contain("| badnets (0.1) | trap-replace | 0,1 | 76.0 ± 1.4 | 3.0 ± 1.4 |");
    }

    [Fact]
    public void Each_defense_gets_its_mean_DER_its_defended_count_and_its_mean_on_the_attacks_all_defenses_share()
    {
        var before = new Metrics(0.80, 1.0, 0.0);
        CellResult Cell(string attack, string defense, double ca, double asr, double der) =>
            SampleResults.Result(attack, defense, 0, ca, asr, before) with { Der = der };
        var results = new[]
        {
            SampleResults.Result("badnets", "none", 0, 0.80, 1.0, null),
            Cell("badnets", "trap-replace", 0.76, 0.02, 0.95),   // CA 4 points down: not defended
            Cell("badnets", "trap-cleanse", 0.79, 0.01, 0.99),
            Cell("blend", "trap-replace", 0.78, 0.50, 0.70),
            Cell("blend", "trap-cleanse", 0.785, 0.05, 0.97),   // exactly at both bars: defended
            Cell("badnets", "fine-tune", 0.78, 0.03, 0.96),
        };

        var (standings, common) = DefenseStanding.Of(SummaryRow.Build(results));

        common.Should().Equal("badnets");
        standings.Select(s => s.Defense).Should().Equal("trap-replace", "trap-cleanse", "fine-tune");
        standings[0].MeanDer.Should().BeApproximately(0.825, 1e-12);
        standings[0].Defended.Should().Be(0);
        standings[0].CommonMeanDer.Should().BeApproximately(0.95, 1e-12);
        standings[1].Attacks.Should().Equal("badnets", "blend");
        standings[1].MeanDer.Should().BeApproximately(0.98, 1e-12);
        standings[1].Defended.Should().Be(2);
        standings[1].CommonMeanDer.Should().BeApproximately(0.99, 1e-12);
        standings[2].Defended.Should().Be(1);

        var markdown = ReportWriter.Markdown(SummaryRow.Build(results));
        markdown.Should().Contain("attacks they share (badnets)");
        markdown.Should().Contain("| trap-cleanse | 2 | 0.980 | 2 of 2 | 0.990 |");
        markdown.Should().Contain("| trap-replace | 2 | 0.825 | 0 of 2 | 0.950 |");
    }

    [Fact]
    public void The_report_says_which_CPU_each_cell_ran_on_and_cells_csv_quotes_the_description()
    {
        const string zen5 = "AMD EPYC (family 26, model 2; avx2 avx512f avx512_bf16)";
        CellResult On(string defense, int seed, string? cpu, int day)
        {
            var r = SampleResults.Result("badnets", defense, seed, 0.8, 0.5, null);
            return r with { Versions = r.Versions with { Cpu = cpu }, FinishedUtc = new DateTimeOffset(2026, 12, day, 12, 0, 0, TimeSpan.Zero) };
        }
        var results = new[] { On("none", 0, zen5, 1), On("fine-tune", 0, zen5, 2), On("nad", 0, null, 3) };
        using var folder = new TempFolder();

        ReportWriter.Write(results.Select(r => ("x.json", r)).ToList(), folder.Path);

        var markdown = File.ReadAllText(Path.Combine(folder.Path, "results.md"));
        markdown.Should().Contain($"| {zen5} | 2 | cpu | 2 | 2026-12-01 | 2026-12-02 |");
        markdown.Should().Contain("| not recorded (result files of schema 1) | 2 | cpu | 1 | 2026-12-03 | 2026-12-03 |");
        var csv = File.ReadAllLines(Path.Combine(folder.Path, "cells.csv"));
        csv[0].Should().EndWith(",threads,device,cpu");
        csv.Count(l => l.EndsWith($",2,cpu,\"{zen5}\"", StringComparison.Ordinal)).Should().Be(2, "a description with commas is one quoted field");
        csv.Count(l => l.EndsWith(",2,cpu,", StringComparison.Ordinal)).Should().Be(1);
    }

    [Fact]
    public void The_report_tabulates_scans_and_draws_the_schedule_crossover_across_profiles()
    {
        var scanned = SampleResults.Result("blend", "trap-cleanse", 0, 0.8, 0.03, new Metrics(0.82, 1.0, 0.0)) with
        {
            Profile = "full",
            Options = new JsonObject
            {
                ["defense"] = new JsonObject
                {
                    ["scan"] = new JsonObject
                    {
                        ["flagged"] = 5000, ["suspects"] = 4800, ["precision"] = 0.95, ["recall"] = 0.96, ["auroc"] = 0.99, ["inferred_target"] = 0,
                        ["target_correct"] = true, ["reference_false_positive_rate"] = 0.008,
                    },
                },
            },
        };
        var results = new[]
        {
            scanned,
            SampleResults.Result("blend", "trap-replace", 0, 0.78, 0.60, null) with { Profile = "full" },
            SampleResults.Result("blend", "trap-replace", 0, 0.70, 0.10, null) with { Profile = "full-short" },
            SampleResults.Result("blend", "fine-tune", 0, 0.75, 0.05, null) with { Profile = "full-short" },
            SampleResults.Result("blend", "fine-tune", 0, 0.80, 0.90, null) with { Profile = "full" },
        };
        using var folder = new TempFolder();

        var written = ReportWriter.Write(results.Select(r => ("x.json", r)).ToList(), folder.Path);

        var markdown = File.ReadAllText(Path.Combine(folder.Path, "results.md"));
        markdown.Should().Contain("| cifar10 | full | blend | trap-cleanse | 0 | 1000 | 5000 | 4800 | 0.950 | 0.960 | 0.990 | 0 | true | 0.80 |");
        markdown.Should().Contain("### Schedule crossover: cifar10, wrn16-1, blend");
        markdown.Should().Contain("| defense | 20 epochs | 60 epochs |");
        markdown.Should().Contain("| trap-replace | 70.0 / 10.0 | 78.0 / 60.0 |");
        markdown.Should().Contain("| fine-tune | 75.0 / 5.0 | 80.0 / 90.0 |");
        markdown.Should().Contain("| trap-cleanse |  | 80.0 / 3.0 |", "a defense at one length stays in the table");
        ScanAndCrossover.PlottedDefenses(SummaryRow.Build(results)).Select(d => d.Key).Should()
            .Equal(["trap-replace", "fine-tune"], "only defenses measured at two lengths get a line, in catalog order");
        written.Should().Contain(Path.Combine(folder.Path, "cifar10-wrn16-1-crossover-blend.png"));
        new FileInfo(Path.Combine(folder.Path, "cifar10-wrn16-1-crossover-blend.png")).Length.Should().BeGreaterThan(1000);
    }

    [Fact]
    public void The_scan_table_names_the_target_and_says_when_the_stem_probe_refuted_one()
    {
        static CellResult Scanned(string attack, JsonObject scan) =>
            SampleResults.Result(attack, "trap-cleanse", 0, 0.79, 0.01, new Metrics(0.8, 1.0, 0.0)) with { Options = new JsonObject { ["defense"] = new JsonObject { ["scan"] = scan } } };
        var results = new[]
        {
            Scanned("badnets", new JsonObject { ["flagged"] = 5538, ["suspects"] = 4891, ["precision"] = 0.971, ["recall"] = 1.0, ["inferred_target"] = 0, ["target_correct"] = true }),
            Scanned("wanet", new JsonObject { ["flagged"] = 1614, ["suspects"] = 0, ["inferred_target"] = null, ["refuted_target"] = 3 }),
            Scanned("sig", new JsonObject { ["flagged"] = 40, ["suspects"] = 0, ["inferred_target"] = null }),
        };

        var rows = ScanAndCrossover.ScanMarkdown(results).Split('\n').Where(l => l.StartsWith("| cifar10", StringComparison.Ordinal)).ToList();

        rows.Should().HaveCount(3);
        rows.Single(r => r.Contains("| badnets |", StringComparison.Ordinal)).Should().Contain("| 0 | true |");
        rows.Single(r => r.Contains("| wanet |", StringComparison.Ordinal)).Should().Contain("| none (3 refuted) |");
        rows.Single(r => r.Contains("| sig |", StringComparison.Ordinal)).Should().Contain("| none |").And.NotContain("refuted");
    }
}

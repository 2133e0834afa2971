using System.Text.Json.Nodes;
using TrapReplace.Cli.Cells;
using TrapReplace.Cli.Matrix;
using TrapReplace.Cli.Reporting;
using TrapReplace.Cli.Results;

namespace TrapReplace.Cli.Tests;

public sealed class MatrixAndReportTests
{
    private static readonly CellSpec Template = new("cifar10", "wrn16-1", "none", "none", 0, "quick");

    [Fact]
    public void Shards_partition_the_cells_and_keep_stage1_groups_together()
    {
        var cells = MatrixRunner.Cells(Template, ["badnets", "blend", "sig"], CellSpec.Defenses, [0, 1]);
        cells.Should().HaveCount(3 * CellSpec.Defenses.Count * 2);

        var slices = Enumerable.Range(1, 5).Select(i => new Shard(i, 5).Select(cells, threads: 2)).ToList();

        slices.SelectMany(s => s).Should().BeEquivalentTo(cells, "every cell is in exactly one slice");
        slices.Sum(s => s.Count).Should().Be(cells.Count);
        foreach (var slice in slices)
            foreach (var group in cells.GroupBy(c => c.Stage1Key(2)))
                slice.Count(group.Contains).Should().Match(n => n == 0 || n == group.Count(), "a stage-1 group is never split");
        cells.Where(c => c.Attack == "badnets" && c.Seed == 0 && !c.UsesTrap).Select(c => c.Stage1Key(2)).Distinct()
            .Should().ContainSingle("none, replace-only, fine-tune and the peers share one plain network");
    }

    [Fact]
    public void The_memory_layout_is_part_of_the_stage1_identity_and_the_standard_layout_keeps_the_old_keys()
    {
        var cell = Template with { Attack = "badnets", Defense = "none" };

        cell.Stage1Key(2, channelsLast: false).Should().Be("cifar10.wrn16-1.quick.badnets-t0-r0.1.plain.seed0.threads2");
        cell.Stage1Key(2, channelsLast: true).Should().Be("cifar10.wrn16-1.quick.badnets-t0-r0.1.plain.seed0.threads2.channels-last");
        cell.Stage1Key(2, channelsLast: true, TrapReplace.Runtime.Precision.BFloat16)
            .Should().Be("cifar10.wrn16-1.quick.badnets-t0-r0.1.plain.seed0.threads2.channels-last.bf16", "bf16 networks never stand in for float32 ones");
    }

    [Theory]
    [InlineData("3/8", 3, 8)]
    [InlineData("1/1", 1, 1)]
    [InlineData(null, 1, 1)]
    public void Shard_parses(string? text, int index, int count) => Shard.Parse(text).Should().Be(new Shard(index, count));

    [Theory]
    [InlineData("0/4")]
    [InlineData("5/4")]
    [InlineData("2")]
    [InlineData("a/b")]
    [InlineData("-1/3")]
    public void Shard_rejects(string text) =>
        FluentActions.Invoking(() => Shard.Parse(text)).Should().Throw<UsageException>().WithMessage($"*got '{text}'*");

    [Fact]
    public void Clean_label_attacks_default_to_a_target_class_ratio()
    {
        (Template with { Attack = "sig" }).ResolvedRatio.Should().Be(0.8);
        (Template with { Attack = "badnets" }).ResolvedRatio.Should().Be(0.1);
        (Template with { Attack = "badnets", PoisonRatio = 0.05 }).AttackTag.Should().Be("badnets-t0-r0.05");
        (Template with { Attack = "none" }).AttackTag.Should().Be("none");
    }

    [Fact]
    public void Validate_names_every_bad_value()
    {
        var errors = new CellSpec("mnist", "vgg", "x", "y", -1, "slow", 99, 0).Validate();
        // Without a known data set the target-class check still runs, against CIFAR-10's 10 classes.
        errors.Should().HaveCount(8);
        errors.Should().Contain("--ratio must be in (0, 1]; got 0");
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
            Result("badnets", "none", 0, 0.80, 0.98, null),
            Result("badnets", "none", 1, 0.82, 1.00, null),
            Result("badnets", "trap-replace", 0, 0.75, 0.02, new Metrics(0.79, 0.97, 0.02)),
            Result("badnets", "trap-replace", 1, 0.77, 0.04, new Metrics(0.81, 0.99, 0.01)),
        };

        var markdown = ReportWriter.Markdown(SummaryRow.Build(results));

        markdown.Should().Contain("| attack | none | trap-replace |");
        markdown.Should().Contain("| badnets (0.1) | 81.0 ± 1.4 / 99.0 ± 1.4 | 76.0 ± 1.4 / 3.0 ± 1.4 |");
        markdown.Should().Contain("| badnets (0.1) | trap-replace | 0,1 | 76.0 ± 1.4 | 3.0 ± 1.4 |");
    }

    [Fact]
    public void The_report_tabulates_scans_and_draws_the_schedule_crossover_across_profiles()
    {
        var scanned = Result("blend", "trap-cleanse", 0, 0.8, 0.03, new Metrics(0.82, 1.0, 0.0)) with
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
            Result("blend", "trap-replace", 0, 0.78, 0.60, null) with { Profile = "full" },
            Result("blend", "trap-replace", 0, 0.70, 0.10, null) with { Profile = "full-short" },
            Result("blend", "fine-tune", 0, 0.75, 0.05, null) with { Profile = "full-short" },
            Result("blend", "fine-tune", 0, 0.80, 0.90, null) with { Profile = "full" },
        };
        using var folder = new TempFolder();

        var written = ReportWriter.Write(results.Select(r => ("x.json", r)).ToList(), folder.Path);

        var markdown = File.ReadAllText(Path.Combine(folder.Path, "results.md"));
        markdown.Should().Contain("| cifar10 | full | blend | trap-cleanse | 0 | 1000 | 5000 | 4800 | 0.950 | 0.960 | 0.990 | 0 | true | 0.80 |");
        markdown.Should().Contain("### Schedule crossover: cifar10, wrn16-1, blend");
        markdown.Should().Contain("| defense | 20 epochs | 60 epochs |");
        markdown.Should().Contain("| trap-replace | 70.0 / 10.0 | 78.0 / 60.0 |");
        markdown.Should().Contain("| fine-tune | 75.0 / 5.0 | 80.0 / 90.0 |");
        written.Should().Contain(Path.Combine(folder.Path, "cifar10-wrn16-1-crossover-blend.png"));
        new FileInfo(Path.Combine(folder.Path, "cifar10-wrn16-1-crossover-blend.png")).Length.Should().BeGreaterThan(1000);
    }

    [Fact]
    public void The_summary_shows_the_trapped_and_the_replaced_head_side_by_side_with_the_scan()
    {
        var result = Result("blend", "trap-replace", 0, 0.801, 0.031, new Metrics(0.823, 1.0, 0.0)) with
        {
            Der = 0.97,
            Options = new JsonObject
            {
                ["defense"] = new JsonObject
                {
                    ["scan"] = new JsonObject { ["suspects"] = 4800, ["inferred_target"] = 0, ["target_correct"] = true, ["precision"] = 0.95, ["recall"] = 0.96 },
                },
            },
        };

        var lines = TrapReplace.Cli.CommandLine.Summary(result, "r.json").Split(Environment.NewLine);

        lines[1].Should().StartWith("  trapped head (undefended)").And.Contain("CA  82.3 %").And.Contain("ASR 100.0 %");
        lines[2].Should().StartWith("  replaced head (defended)").And.Contain("CA  80.1 %").And.Contain("ASR   3.1 %").And.Contain("DER 0.970");
        lines[3].Should().Be("  poison scan: 4800 suspects of 10000, inferred target 0 (right); against the true poison, measured after the defense: precision 0.950, recall 0.960");
    }

    private static CellResult Result(string attack, string defense, int seed, double ca, double asr, Metrics? undefended) => new()
    {
        Dataset = "cifar10", Backbone = "wrn16-1", Attack = attack, Defense = defense, Seed = seed, Profile = "quick", TargetClass = 0,
        PoisonRatio = 0.1, PoisonRatioOf = "WholeTrainingSet", PoisonedCount = 1000, CleanAccuracy = ca, AttackSuccessRate = asr,
        RobustAccuracy = 1 - asr, Undefended = undefended, Der = null, PerClassAccuracy = [], TestCount = 10_000, TriggeredCount = 9_000,
        UntrustedCount = 10_000, HoldoutCount = 2_500, Epochs = new EpochCounts(10, 20), TrainSeconds = 100, Stage1Seconds = 90,
        DefenseSeconds = 10, EvaluationSeconds = 5, ImagesPerSecond = 400, Stage1Reused = false, Curves = [], Options = new JsonObject(),
        Versions = CellRunner.Versions(), Threads = 2, Device = "cpu", FinishedUtc = DateTimeOffset.UnixEpoch,
    };
}

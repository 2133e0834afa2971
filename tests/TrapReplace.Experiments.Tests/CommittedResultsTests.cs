using System.Globalization;
using FluentAssertions.Execution;
using TrapReplace.Experiments.Reporting;
using TrapReplace.Experiments.Results;

namespace TrapReplace.Experiments.Tests;

/// <summary>
/// The evidence users read is the committed result files; the report and README's headline tables are written from
/// them. These tests hold both to the files, so a rerun cell that changes a number cannot leave a stale table behind
/// (README's prose once kept three trap-cleanse results from before their rerun).
/// </summary>
public sealed class CommittedResultsTests
{
    private static readonly string Root = RepositoryRoot();
    private static readonly string Evidence = Path.Combine(Root, "docs", "results-full-bf16");

    // The six attacks of README's tables, in their column order, as README names them.
    private static readonly (string Readme, string Attack)[] Attacks =
    [
        ("BadNets-grid", "badnets-grid"), ("Blend", "blend"), ("l2-invisible", "l2-invisible"), ("Trojan-WM", "trojan-wm"), ("SIG", "sig"), ("WaNet", "wanet"),
    ];

    [Fact]
    public void The_committed_report_is_exactly_what_report_makes_of_the_committed_result_files()
    {
        var output = Directory.CreateTempSubdirectory("committed-report").FullName;
        try
        {
            var written = ReportWriter.Write(ResultFiles.ReadAll(Evidence), output, ResultFiles.ReadAllFailures(Evidence).Select(f => f.Failure).ToList());

            foreach (var name in new[] { "results.md", "summary.csv", "cells.csv" })
                File.ReadAllText(Path.Combine(output, name)).Should().Be(File.ReadAllText(Path.Combine(Evidence, name)),
                    $"docs/results-full-bf16/{name} must be regenerated (trap-replace report --results docs/results-full-bf16) when a result file changes");
            // Plots are compared by name only: their pixels depend on the machine's fonts.
            written.Select(Path.GetFileName).Where(n => n!.EndsWith(".png", StringComparison.Ordinal))
                .Should().BeSubsetOf(Directory.GetFiles(Evidence, "*.png").Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    // Rows of README's headline table for another seed of an attack: "Blend (10 %), **seed 1** (session 28)" (bold stripped).
    private static readonly (string Readme, string Attack, int Seed)[] SeedRows = [("Blend", "blend", 1), ("Blend", "blend", 2)];

    [Fact]
    public void READMEs_six_attack_headline_table_matches_the_committed_result_files()
    {
        var rows = TableAfter("| attack (poison) | undefended (trap network) | Trap and Replace | trap-cleanse |");
        rows.Should().HaveCount(Attacks.Length + SeedRows.Length);
        using var all = new AssertionScope(); // every stale number at once
        foreach (var (readme, attack) in Attacks)
        {
            var row = rows.Single(r => r[0].StartsWith(readme + " (", StringComparison.Ordinal) && !r[0].Contains(", seed ", StringComparison.Ordinal));
            var trap = Cell(attack, "trap-replace");
            var cleanse = Cell(attack, "trap-cleanse");
            row[1].Should().Be(CaAsr(trap.Undefended!.CleanAccuracy, trap.Undefended.AttackSuccessRate), $"{readme}: the trap network");
            row[2].Should().Be(CaAsr(trap.CleanAccuracy, trap.AttackSuccessRate), $"{readme}: Trap and Replace");
            row[3].Should().Be(CaAsr(cleanse.CleanAccuracy, cleanse.AttackSuccessRate), $"{readme}: trap-cleanse");
            if (cleanse.Options["defense"]?["scan"]?["precision"] is { } precision)
                row[4].Should().Be($"{F3(precision.GetValue<double>())} / {F3(cleanse.Options["defense"]!["scan"]!["recall"]!.GetValue<double>())}", $"{readme}: the scan");
            else
                row[4].Should().NotMatchRegex(@"^\d", $"{readme}: no scan was measured, so no precision may be shown");
        }
        foreach (var (readme, attack, seed) in SeedRows)
        {
            var row = rows.Single(r => r[0].StartsWith($"{readme} (", StringComparison.Ordinal) && r[0].Contains($", seed {seed} ", StringComparison.Ordinal));
            var trap = Cell(attack, "trap-replace", seed);
            var cleanse = Cell(attack, "trap-cleanse", seed);
            row[1].Should().Be(CaAsr(trap.Undefended!.CleanAccuracy, trap.Undefended.AttackSuccessRate), $"{readme} seed {seed}: the trap network");
            row[2].Should().Be(CaAsr(trap.CleanAccuracy, trap.AttackSuccessRate), $"{readme} seed {seed}: Trap and Replace");
            row[3].Should().StartWith(CaAsr(cleanse.CleanAccuracy, cleanse.AttackSuccessRate), $"{readme} seed {seed}: trap-cleanse");
            var scan = cleanse.Options["defense"]!["scan"]!;
            if (scan["suspects"]!.GetValue<int>() == 0)
                row[4].Should().Be($"nothing found (AUROC {scan["auroc"]!.GetValue<double>().ToString("F2", System.Globalization.CultureInfo.InvariantCulture)})", $"{readme} seed {seed}: the scan named no image");
            else
                row[4].Should().Be($"{F3(scan["precision"]!.GetValue<double>())} / {F3(scan["recall"]!.GetValue<double>())}", $"{readme} seed {seed}: the scan");
        }
    }

    [Fact]
    public void READMEs_CIFAR10_defense_table_matches_the_committed_result_files_and_their_mean_DER() =>
        DefenseTableMatches("| cell (60 stage-1 epochs, bf16) | BadNets-grid | Blend |", "cifar10", Attacks,
        [
            ("undefended (plain network)", "fine-tune", true), ("replace-only", "replace-only", false), ("fine-tune", "fine-tune", false),
            ("fine-pruning", "fine-pruning", false), ("NAD", "nad", false), ("ANP", "anp", false), ("I-BAU", "i-bau", false),
            ("ABL", "abl", false), ("undefended (trap network", "trap-replace", true), ("Trap and Replace", "trap-replace", false), ("trap-cleanse", "trap-cleanse", false),
        ]);

    [Fact]
    public void READMEs_GTSRB_table_matches_the_committed_result_files_and_their_mean_DER() =>
        DefenseTableMatches("| GTSRB cell (60 stage-1 epochs, bf16) |", "gtsrb", [("BadNets-grid", "badnets-grid"), ("Blend", "blend"), ("Trojan-WM", "trojan-wm")],
        [
            ("undefended (plain network)", "fine-tune", true), ("fine-tune", "fine-tune", false), ("fine-pruning", "fine-pruning", false), ("NAD", "nad", false),
            ("undefended (trap network", "trap-replace", true), ("Trap and Replace", "trap-replace", false), ("trap-cleanse", "trap-cleanse", false),
        ]);

    [Fact]
    public void READMEs_schedule_crossover_table_matches_the_committed_result_files()
    {
        // Columns: attack x stage-1 length (full-short 20, full 60, full-long 180 epochs); a cell whose file has not
        // been written yet must say so, so the table cannot claim a length that has not run.
        (string Attack, string Profile)[] columns =
        [
            ("blend", "full-short"), ("blend", "full"), ("blend", "full-long"),
            ("badnets-grid", "full-short"), ("badnets-grid", "full"), ("badnets-grid", "full-long"),
        ];
        (string Label, string Defense, bool Undefended)[] labels =
        [
            ("undefended (plain network)", "fine-tune", true), ("undefended (trap network", "trap-replace", true), ("replace-only", "replace-only", false),
            ("fine-tune", "fine-tune", false), ("Trap and Replace", "trap-replace", false), ("trap-cleanse", "trap-cleanse", false),
        ];
        var rows = TableAfter("| crossover cell (stage-1 epochs) |");
        rows.Should().HaveCount(labels.Length);
        using var all = new AssertionScope();
        foreach (var (label, defense, undefended) in labels)
        {
            var row = rows.Single(r => r[0].StartsWith(label, StringComparison.Ordinal));
            row.Should().HaveCount(columns.Length + 1, label);
            for (int column = 0; column < columns.Length; column++)
            {
                var (attack, profile) = columns[column];
                var path = CellPath("cifar10", attack, defense, profile);
                string what = $"{label} x {attack} at {profile}";
                row[column + 1].Should().Be(File.Exists(path) ? CellText(ResultFiles.Read(path), undefended)
                    : File.Exists(FailurePath(path)) ? "diverged" : "not run yet", what);
            }
        }
    }

    // README's row label (its start) -> the defense whose cells the row shows, the undefended rows showing a defense's
    // starting network; cells "CA / ASR, DER" (undefended: "CA / ASR"), "diverged" where a failure record stands, and
    // a last column that starts with the mean DER over the attacks the defense finished.
    private static void DefenseTableMatches(string headerStart, string dataset, (string Readme, string Attack)[] attacks, (string Label, string Defense, bool Undefended)[] labels)
    {
        var rows = TableAfter(headerStart);
        rows.Should().HaveCount(labels.Length);
        using var all = new AssertionScope(); // every stale number at once
        foreach (var (label, defense, undefended) in labels)
        {
            var row = rows.Single(r => r[0].StartsWith(label, StringComparison.Ordinal));
            row.Should().HaveCount(attacks.Length + 2, label);
            var ders = new List<double>();
            for (int column = 0; column < attacks.Length; column++)
            {
                var attack = attacks[column].Attack;
                string what = $"{dataset}: {label} x {attack}";
                if (!File.Exists(CellPath(dataset, attack, defense)))
                {
                    File.Exists(FailurePath(CellPath(dataset, attack, defense))).Should().BeTrue($"{what}: no result file, so a failure record");
                    row[column + 1].Should().Be("diverged", what);
                    continue;
                }
                var cell = Cell(dataset, attack, defense);
                row[column + 1].Should().Be(CellText(cell, undefended), what);
                if (!undefended) ders.Add(cell.Der!.Value);
            }
            if (!undefended)
                row[attacks.Length + 1].Should().StartWith(F3(ders.Average()), $"{dataset}: {label}: the mean DER over the attacks it finished");
        }
    }

    private static CellResult Cell(string attack, string defense, int seed = 0) => ResultFiles.Read(CellPath("cifar10", attack, defense, seed: seed));

    private static CellResult Cell(string dataset, string attack, string defense) => ResultFiles.Read(CellPath(dataset, attack, defense));

    private static string CellPath(string dataset, string attack, string defense, string profile = "full", int seed = 0) =>
        Path.Combine(Evidence, $"{dataset}.wrn16-1.{profile}.{Slice(attack)}.{defense}.seed{seed}.json");

    // The file name's attack part: SIG poisons 80 % of the target class, the others 10 % of the set; all target class 0.
    private static string Slice(string attack) => attack == "sig" ? "sig-t0-r0.8" : $"{attack}-t0-r0.1";

    // A table cell as README writes it: "CA / ASR, DER", or the starting network's "CA / ASR" for an undefended row.
    private static string CellText(CellResult cell, bool undefended) => undefended
        ? CaAsr(cell.Undefended!.CleanAccuracy, cell.Undefended.AttackSuccessRate)
        : $"{CaAsr(cell.CleanAccuracy, cell.AttackSuccessRate)}, {F3(cell.Der!.Value)}";

    private static string FailurePath(string resultPath) => Path.ChangeExtension(resultPath, null) + ResultFiles.FailureSuffix;

    private static string CaAsr(double ca, double? asr) => $"{Pct(ca)} / {Pct(asr!.Value)}";

    private static string Pct(double fraction) => (100 * fraction).ToString("F1", CultureInfo.InvariantCulture);

    private static string F3(double value) => value.ToString("F3", CultureInfo.InvariantCulture);

    // The rows of the Markdown table whose header line starts with the given text, cells trimmed and bold removed.
    private static List<string[]> TableAfter(string headerStart)
    {
        var lines = File.ReadAllLines(Path.Combine(Root, "README.md"));
        int header = Array.FindIndex(lines, l => l.StartsWith(headerStart, StringComparison.Ordinal));
        header.Should().BeGreaterThanOrEqualTo(0, $"README has the table '{headerStart}'");
        return lines.Skip(header + 2).TakeWhile(l => l.StartsWith('|'))
            .Select(l => l.Trim('|').Split('|').Select(c => c.Replace("**", "", StringComparison.Ordinal).Trim()).ToArray())
            .ToList();
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TrapReplace.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find TrapReplace.sln above " + AppContext.BaseDirectory);
    }
}

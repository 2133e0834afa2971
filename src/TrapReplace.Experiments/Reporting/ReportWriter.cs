using System.Globalization;
using System.Text;
using TrapReplace.Data;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Specs;
using TrapReplace.Internal;

namespace TrapReplace.Experiments.Reporting;

/// <summary>Writes the merged results: results.md (tables), summary.csv (per row), cells.csv (per result file) and the plots.</summary>
public static class ReportWriter
{
    /// <summary>Writes every report file into <paramref name="outputDirectory"/>; returns the paths written. Cells that failed
    /// (<paramref name="failures"/>) show as such in results.md.</summary>
    public static IReadOnlyList<string> Write(IReadOnlyList<(string Path, CellResult Result)> results, string outputDirectory,
        IReadOnlyList<CellFailure>? failures = null)
    {
        Directory.CreateDirectory(outputDirectory);
        var rows = SummaryRow.Build(results.Select(r => r.Result));
        // Before anything is written: a report is tables and plots together, never tables beside stale plots.
        if (rows.Count > 0) PlotNatives.Require();
        var written = new List<string>();
        void Text(string name, string content)
        {
            var path = Path.Combine(outputDirectory, name);
            AtomicFile.WriteAllText(path, content);
            written.Add(path);
        }
        Text("results.md", Markdown(rows, failures) + ScanAndCrossover.ScanMarkdown(results.Select(r => r.Result)) + ScanAndCrossover.CrossoverMarkdown(rows));
        Text("summary.csv", SummaryCsv(rows));
        Text("cells.csv", CellsCsv(results.Select(r => r.Result)));
        written.AddRange(Plots.Write(rows, outputDirectory));
        written.AddRange(ScanAndCrossover.CrossoverPlots(rows, outputDirectory));
        return written;
    }

    /// <summary>Per data set/backbone/profile: a CA | ASR pivot (attack x defense, a failed cell marked with its reason),
    /// the failed cells, the defenses' standings and the full table.</summary>
    public static string Markdown(IReadOnlyList<SummaryRow> rows, IReadOnlyList<CellFailure>? failures = null)
    {
        failures ??= [];
        var md = new StringBuilder();
        var blocks = rows.Select(r => (r.Dataset, r.Backbone, r.Profile)).Concat(failures.Select(f => (f.Dataset, f.Backbone, f.Profile))).Distinct().ToList();
        foreach (var key in blocks)
        {
            var block = rows.Where(r => (r.Dataset, r.Backbone, r.Profile) == key).ToList();
            var failed = failures.Where(f => (f.Dataset, f.Backbone, f.Profile) == key)
                .OrderBy(f => SummaryRow.AttackOrder(f.Attack)).ThenBy(f => SummaryRow.DefenseOrder(f.Defense)).ThenBy(f => f.Seed).ThenBy(f => f.DefenseSeed ?? -1).ToList();
            var defenses = block.Select(r => r.Defense).Concat(failed.Select(f => f.Defense)).Distinct().OrderBy(SummaryRow.DefenseOrder).ToList();
            md.AppendLine(CultureInfo.InvariantCulture, $"### {key.Dataset}, {key.Backbone}, profile {key.Profile}");
            md.AppendLine();
            md.AppendLine("CA / ASR in %, mean ± std over seeds:");
            md.AppendLine();
            md.AppendLine("| attack | " + string.Join(" | ", defenses) + " |");
            md.AppendLine("|---|" + string.Concat(defenses.Select(_ => "---|")));
            var attacks = block.Select(r => (r.Attack, r.PoisonRatio)).Concat(failed.Select(f => (f.Attack, f.PoisonRatio))).Distinct()
                .OrderBy(a => SummaryRow.AttackOrder(a.Attack));
            foreach (var attack in attacks)
            {
                var cells = defenses.Select(d =>
                    block.FirstOrDefault(r => (r.Attack, r.PoisonRatio) == attack && r.Defense == d) is { } r ? $"{Pct(r.CleanAccuracy)} / {Pct(r.AttackSuccessRate)}"
                    : failed.FirstOrDefault(f => (f.Attack, f.PoisonRatio) == attack && f.Defense == d) is { } f ? f.Reason
                    : "");
                md.AppendLine(CultureInfo.InvariantCulture, $"| {AttackLabel(attack.Attack, attack.PoisonRatio)} | {string.Join(" | ", cells)} |");
            }
            md.AppendLine();
            if (failed.Count > 0)
            {
                md.AppendLine("Failed cells (no result file; each has a `.failed.json` record beside the results, and a matrix skips it until that record is deleted):");
                md.AppendLine();
                foreach (var f in failed)
                    md.AppendLine(CultureInfo.InvariantCulture,
                        $"- {AttackLabel(f.Attack, f.PoisonRatio)} x {f.Defense}, seed {CellSpec.FormatSeedLabel(f.Seed, f.DefenseSeed)}: {f.Reason} in stage {f.Stage} at epoch {f.Epoch}, step {f.Step} ({f.Precision}, {f.FinishedUtc:yyyy-MM-dd})");
                md.AppendLine();
            }
            if (block.Count == 0) continue;
            var (standings, common) = DefenseStanding.Of(block);
            if (standings.Count > 0)
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"Per defense: mean DER over the attacks it was measured on; defended = ASR <= {DefenseStanding.DefendedAttackSuccess:P0} with CA within {DefenseStanding.DefendedCleanAccuracyLoss * 100:F0} points of the network it started from; the last column compares all of them on the attacks they share ({(common.Count == 0 ? "none" : string.Join(", ", common))}):");
                md.AppendLine();
                md.AppendLine("| defense | attacks | mean DER | defended | mean DER on the shared attacks |");
                md.AppendLine("|---|---|---|---|---|");
                foreach (var s in standings)
                    md.AppendLine(CultureInfo.InvariantCulture,
                        $"| {s.Defense} | {s.Attacks.Count} | {s.MeanDer:F3} | {s.Defended} of {s.Attacks.Count} | {(s.CommonMeanDer is double c ? c.ToString("F3", CultureInfo.InvariantCulture) : "-")} |");
                md.AppendLine();
            }
            md.AppendLine("All metrics (undefended = the reference the defense started from; DER per BackdoorBench; defense s = wall time of the defense alone, train s = stage 1 + defense):");
            md.AppendLine();
            md.AppendLine("| attack | defense | seeds | CA % | ASR % | RA % | DER | undefended CA % | undefended ASR % | defense s | train s |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in block)
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {AttackLabel(r.Attack, r.PoisonRatio)} | {r.Defense} | {string.Join(",", r.Seeds)} | {Pct(r.CleanAccuracy)} | {Pct(r.AttackSuccessRate)} | {Pct(r.RobustAccuracy)} | {Plain(r.Der, "F3")} | {Pct(r.UndefendedCleanAccuracy)} | {Pct(r.UndefendedAttackSuccessRate)} | {Plain(r.DefenseSeconds, "F0")} | {Plain(r.TrainSeconds, "F0")} |");
            }
            md.AppendLine();
            var exact = block.Where(r => r.ExactCleanAccuracy is not null).ToList();
            if (exact.Count > 0)
            {
                md.AppendLine("On the test records that hold the official CIFAR-10 test images in every copy (records 0-999; in the shared offline copy the other 9,000 are JPEG-degraded, which costs about 7 points of CA), for the cells that measured them:");
                md.AppendLine();
                md.AppendLine("| attack | defense | seeds | images | CA % | ASR % | DER | undefended CA % |");
                md.AppendLine("|---|---|---|---|---|---|---|---|");
                foreach (var r in exact)
                {
                    var measured = r.Cells.Where(c => c.ExactTest is not null).ToList();
                    md.AppendLine(CultureInfo.InvariantCulture,
                        $"| {AttackLabel(r.Attack, r.PoisonRatio)} | {r.Defense} | {string.Join(",", measured.Select(c => c.SeedLabel))} | {measured[0].ExactTest!.TestCount} | {Pct(r.ExactCleanAccuracy)} | {Pct(r.ExactAttackSuccessRate)} | {Plain(r.ExactDer, "F3")} | {Pct(r.ExactUndefendedCleanAccuracy ?? (r.Defense == "none" ? r.ExactCleanAccuracy : null))} |");
                }
                md.AppendLine();
            }
            md.Append(MachinesMarkdown(block.SelectMany(r => r.Cells)));
        }
        return md.ToString();
    }

    /// <summary>Which CPU and thread count the cells ran on: speed figures and the last bits of every number depend on it.</summary>
    internal static string MachinesMarkdown(IEnumerable<CellResult> cells)
    {
        var machines = cells.GroupBy(c => (Cpu: c.Versions.Cpu ?? "not recorded (result files of schema 1)", c.Threads, c.Device))
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key.Cpu, StringComparer.Ordinal).ToList();
        if (machines.Count == 0) return "";
        var md = new StringBuilder("Where the cells ran (the CPU each result file records):\n\n| CPU | threads | device | cells | first finished (UTC) | last finished (UTC) |\n|---|---|---|---|---|---|\n");
        foreach (var m in machines)
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {m.Key.Cpu} | {m.Key.Threads} | {m.Key.Device} | {m.Count()} | {m.Min(c => c.FinishedUtc):yyyy-MM-dd} | {m.Max(c => c.FinishedUtc):yyyy-MM-dd} |");
        md.AppendLine();
        return md.ToString();
    }

    private static string SummaryCsv(IReadOnlyList<SummaryRow> rows)
    {
        var csv = new StringBuilder("dataset,backbone,profile,attack,poison_ratio,defense,seeds,ca_mean,ca_std,asr_mean,asr_std,ra_mean,ra_std,der_mean,der_std,undefended_ca_mean,undefended_asr_mean,defense_seconds_mean,train_seconds_mean,exact_ca_mean,exact_asr_mean,exact_der_mean\n");
        foreach (var r in rows)
        {
            csv.AppendLine(string.Join(",",
                r.Dataset, r.Backbone, r.Profile, r.Attack, Num(r.PoisonRatio), r.Defense, r.Seeds.Count.ToString(CultureInfo.InvariantCulture),
                Num(r.CleanAccuracy.Mean), Num(r.CleanAccuracy.Std), Num(r.AttackSuccessRate?.Mean), Num(r.AttackSuccessRate?.Std),
                Num(r.RobustAccuracy?.Mean), Num(r.RobustAccuracy?.Std), Num(r.Der?.Mean), Num(r.Der?.Std),
                Num(r.UndefendedCleanAccuracy?.Mean), Num(r.UndefendedAttackSuccessRate?.Mean), Num(r.DefenseSeconds.Mean), Num(r.TrainSeconds.Mean),
                Num(r.ExactCleanAccuracy?.Mean), Num(r.ExactAttackSuccessRate?.Mean), Num(r.ExactDer?.Mean)));
        }
        return csv.ToString();
    }

    private static string CellsCsv(IEnumerable<CellResult> results)
    {
        var csv = new StringBuilder("dataset,backbone,profile,attack,target_class,poison_ratio,defense,seed,defense_seed,clean_accuracy,attack_success_rate,robust_accuracy,der,undefended_clean_accuracy,undefended_attack_success_rate,train_seconds,images_per_second,finished_utc,exact_test_count,exact_clean_accuracy,exact_attack_success_rate,exact_der,threads,device,cpu\n");
        foreach (var r in results.OrderBy(r => r.Dataset, StringComparer.Ordinal).ThenBy(r => SummaryRow.AttackOrder(r.Attack)).ThenBy(r => SummaryRow.DefenseOrder(r.Defense)).ThenBy(r => r.Seed).ThenBy(r => r.DefenseSeed ?? -1))
        {
            csv.AppendLine(string.Join(",",
                r.Dataset, r.Backbone, r.Profile, r.Attack, r.TargetClass.ToString(CultureInfo.InvariantCulture), Num(r.PoisonRatio), r.Defense,
                r.Seed.ToString(CultureInfo.InvariantCulture), r.DefenseSeed?.ToString(CultureInfo.InvariantCulture) ?? "", Num(r.CleanAccuracy), Num(r.AttackSuccessRate), Num(r.RobustAccuracy), Num(r.Der),
                Num(r.Undefended?.CleanAccuracy), Num(r.Undefended?.AttackSuccessRate), Num(r.TrainSeconds), Num(r.ImagesPerSecond),
                r.FinishedUtc.ToString("O", CultureInfo.InvariantCulture),
                r.ExactTest?.TestCount.ToString(CultureInfo.InvariantCulture) ?? "", Num(r.ExactTest?.CleanAccuracy), Num(r.ExactTest?.AttackSuccessRate), Num(r.ExactTest?.Der),
                r.Threads.ToString(CultureInfo.InvariantCulture), CsvField.Quote(r.Device), CsvField.Quote(r.Versions.Cpu ?? "")));
        }
        return csv.ToString();
    }

    private static string AttackLabel(string attack, double? ratio) =>
        ratio is double r ? string.Create(CultureInfo.InvariantCulture, $"{attack} ({r:0.###})") : attack;

    private static string Pct(Stat? s) => s is null ? "-"
        : s.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $"{s.Mean * 100:F1} ± {s.Std * 100:F1}")
        : string.Create(CultureInfo.InvariantCulture, $"{s.Mean * 100:F1}");

    private static string Plain(Stat? s, string format) => s is null ? "-"
        : s.Count > 1 ? s.Mean.ToString(format, CultureInfo.InvariantCulture) + " ± " + s.Std.ToString(format, CultureInfo.InvariantCulture)
        : s.Mean.ToString(format, CultureInfo.InvariantCulture);

    private static string Num(double? v) => v is double d ? d.ToString("R", CultureInfo.InvariantCulture) : "";
}

using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ScottPlot;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Experiments.Reporting;

/// <summary>
/// Two report sections that read across cells: the poison scan's quality (cells whose defense ran a scan), and the
/// schedule crossover (the same attack and defense at several stage-1 lengths: profiles full-short, full, full-long).
/// </summary>
public static class ScanAndCrossover
{
    /// <summary>Profiles of the crossover study, shortest first, with their stage-1 epochs.</summary>
    public static IReadOnlyList<ExperimentProfile> CrossoverProfiles { get; } =
        [ExperimentProfile.FullShort, ExperimentProfile.Full, ExperimentProfile.FullLong];


    /// <summary>The scan table: one line per cell with a scan; empty when no cell has one.</summary>
    public static string ScanMarkdown(IEnumerable<CellResult> results)
    {
        var scanned = results.Where(r => r.Options["defense"]?["scan"] is not null)
            .OrderBy(r => r.Dataset, StringComparer.Ordinal).ThenBy(r => r.Profile, StringComparer.Ordinal)
            .ThenBy(r => SummaryRow.AttackOrder(r.Attack)).ThenBy(r => SummaryRow.DefenseOrder(r.Defense)).ThenBy(r => r.Seed).ThenBy(r => r.DefenseSeed ?? -1).ToList();
        if (scanned.Count == 0) return "";
        var md = new StringBuilder();
        md.AppendLine("### Poison scan");
        md.AppendLine();
        md.AppendLine("Which training samples the trapped and the replaced head say are poisoned. Threshold: the 99th percentile of the score on the " +
            "holdout's validation images (neither head trained on them); precision, recall and AUROC are measured by the runner against the " +
            "attack's true poisoned indices after the defense, which never sees them.");
        md.AppendLine();
        md.AppendLine("| data set | profile | attack | defense | seed | poisoned | flagged | suspects | precision | recall | AUROC | inferred target | right? | reference FPR % |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in scanned)
        {
            var s = r.Options["defense"]!["scan"]!;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Dataset} | {r.Profile} | {r.Attack} | {r.Defense} | {r.SeedLabel} | {r.PoisonedCount} | {s["flagged"]} | {s["suspects"]} | {F(s["precision"], "F3")} | {F(s["recall"], "F3")} | {F(s["auroc"], "F3")} | {TargetCell(s)} | {s["target_correct"]?.ToString() ?? "-"} | {F(s["reference_false_positive_rate"], "P2").TrimEnd('%').Trim()} |");
        }
        md.AppendLine();
        return md.ToString();
    }

    // The inferred target, or why there is none (the stem probe withdrew the heads' target).
    private static string TargetCell(JsonNode s) =>
        s["inferred_target"]?.ToString() ?? (s["refuted_target"] is { } refuted ? $"none ({refuted} refuted)" : "none");

    /// <summary>The crossover table (ASR and CA after each defense against stage-1 epochs); empty with fewer than two lengths.</summary>
    public static string CrossoverMarkdown(IReadOnlyList<SummaryRow> rows)
    {
        var md = new StringBuilder();
        foreach (var group in Groups(rows))
        {
            var lengths = group.Select(r => Epochs(r.Profile)).Distinct().Order().ToList();
            md.AppendLine(CultureInfo.InvariantCulture, $"### Schedule crossover: {group.Key.Dataset}, {group.Key.Backbone}, {group.Key.Attack}");
            md.AppendLine();
            md.AppendLine("CA / ASR in % after each defense, by stage-1 epochs (profiles " + string.Join(", ", CrossoverProfiles.Select(p => $"{p.Name} = {p.Stage1Epochs}")) + "):");
            md.AppendLine();
            md.AppendLine("| defense | " + string.Join(" | ", lengths.Select(e => $"{e} epochs")) + " |");
            md.AppendLine("|---|" + string.Concat(lengths.Select(_ => "---|")));
            foreach (var defense in group.GroupBy(r => r.Defense).OrderBy(d => SummaryRow.DefenseOrder(d.Key)))
            {
                var cells = lengths.Select(e => defense.FirstOrDefault(r => Epochs(r.Profile) == e) is { } r
                    ? string.Create(CultureInfo.InvariantCulture, $"{r.CleanAccuracy.Mean * 100:F1} / {(r.AttackSuccessRate?.Mean * 100)?.ToString("F1", CultureInfo.InvariantCulture) ?? "-"}") : "");
                md.AppendLine($"| {defense.Key} | {string.Join(" | ", cells)} |");
            }
            md.AppendLine();
        }
        return md.ToString();
    }

    /// <summary>One PNG per crossover group: ASR (dashed) and CA (solid) after each defense measured at two or more
    /// stage-1 lengths against those lengths, on a log axis (a defense at one length has no line; the table lists it).</summary>
    public static IReadOnlyList<string> CrossoverPlots(IReadOnlyList<SummaryRow> rows, string directory)
    {
        var written = new List<string>();
        foreach (var group in Groups(rows))
        {
            var plot = new Plot();
            foreach (var defense in PlottedDefenses(group))
            {
                var points = defense.Select(r => (X: Math.Log10(Epochs(r.Profile)), Ca: r.CleanAccuracy.Mean * 100, Asr: r.AttackSuccessRate?.Mean * 100))
                    .OrderBy(p => p.X).ToList();
                var color = Plots.DefenseColor(defense.Key);
                var ca = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Ca).ToArray());
                ca.Color = color;
                ca.LegendText = $"{defense.Key} CA";
                var withAsr = points.Where(p => p.Asr is not null).ToList();
                if (withAsr.Count == 0) continue;
                var asr = plot.Add.Scatter(withAsr.Select(p => p.X).ToArray(), withAsr.Select(p => p.Asr!.Value).ToArray());
                asr.Color = color;
                asr.LinePattern = LinePattern.Dashed;
                asr.LegendText = $"{defense.Key} ASR";
            }
            // The lengths triple (20, 60, 180): a log axis spaces them evenly, ticked at the lengths themselves.
            var lengths = group.Select(r => Epochs(r.Profile)).Distinct().Order().ToArray();
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                lengths.Select(e => Math.Log10(e)).ToArray(), lengths.Select(e => e.ToString(CultureInfo.InvariantCulture)).ToArray());
            double margin = 0.08 * (Math.Log10(lengths[^1]) - Math.Log10(lengths[0]));
            plot.Axes.SetLimitsX(Math.Log10(lengths[0]) - margin, Math.Log10(lengths[^1]) + margin);
            plot.Axes.SetLimitsY(0, 105);
            plot.XLabel("stage-1 epochs, log scale (whole training set minus the 5 % holdout)");
            plot.YLabel("% on the whole test set");
            plot.Title($"{group.Key.Dataset} {group.Key.Backbone} {group.Key.Attack}: CA solid, ASR dashed");
            plot.ShowLegend(Edge.Right);
            var path = Path.Combine(directory, $"{group.Key.Dataset}-{group.Key.Backbone}-crossover-{group.Key.Attack}.png");
            var temp = path + ".tmp.png";
            plot.SavePng(temp, 1000, 520);
            File.Move(temp, path, overwrite: true);
            written.Add(path);
        }
        return written;
    }

    /// <summary>The defenses of one crossover group that have a line: those measured at two or more stage-1 lengths.</summary>
    internal static IEnumerable<IGrouping<string, SummaryRow>> PlottedDefenses(IEnumerable<SummaryRow> group) =>
        group.GroupBy(r => r.Defense).Where(d => d.Select(r => r.Profile).Distinct().Count() >= 2).OrderBy(d => SummaryRow.DefenseOrder(d.Key));

    // Attack groups with results at two or more crossover lengths.
    private static IEnumerable<IGrouping<(string Dataset, string Backbone, string Attack), SummaryRow>> Groups(IReadOnlyList<SummaryRow> rows) =>
        rows.Where(r => r.Attack != "none" && CrossoverProfiles.Any(p => p.Name == r.Profile))
            .GroupBy(r => (r.Dataset, r.Backbone, r.Attack))
            .Where(g => g.Select(r => r.Profile).Distinct().Count() >= 2)
            .OrderBy(g => g.Key.Dataset, StringComparer.Ordinal).ThenBy(g => SummaryRow.AttackOrder(g.Key.Attack));

    private static int Epochs(string profile) => CrossoverProfiles.First(p => p.Name == profile).Stage1Epochs;

    private static string F(System.Text.Json.Nodes.JsonNode? node, string format) =>
        node is null ? "-" : node.GetValue<double>().ToString(format, CultureInfo.InvariantCulture);
}

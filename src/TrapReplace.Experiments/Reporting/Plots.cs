using ScottPlot;
using TrapReplace.Experiments.Results;

namespace TrapReplace.Experiments.Reporting;

/// <summary>PNG plots: per-attack bars of CA and ASR by defense, and per-epoch CA/ASR curves per attack.</summary>
public static class Plots
{
    // One colour per catalog defense (ten: none and the nine defenses), so a defense looks the same in every figure.
    private static readonly string[] DefenseColors = ["#7f7f7f", "#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"];

    /// <summary>The colour of <paramref name="defense"/> in every plot (by its place in the defense catalog).</summary>
    internal static Color DefenseColor(string defense) => Color.FromHex(DefenseColors[SummaryRow.DefenseOrder(defense) % DefenseColors.Length]);

    /// <summary>Writes the plots of every data set/backbone/profile block; returns the paths.</summary>
    public static IReadOnlyList<string> Write(IReadOnlyList<SummaryRow> rows, string directory)
    {
        var written = new List<string>();
        foreach (var block in rows.GroupBy(r => (r.Dataset, r.Backbone, r.Profile)))
        {
            string prefix = $"{block.Key.Dataset}-{block.Key.Backbone}-{block.Key.Profile}";
            var attacked = block.Where(r => r.AttackSuccessRate is not null).ToList();
            if (attacked.Count > 0)
            {
                written.Add(Bars(attacked, r => r.AttackSuccessRate!, "attack success rate (%)", $"{prefix}: ASR by attack and defense", Path.Combine(directory, $"{prefix}-asr.png")));
                written.Add(Bars(attacked, r => r.CleanAccuracy, "clean accuracy (%)", $"{prefix}: CA by attack and defense", Path.Combine(directory, $"{prefix}-ca.png")));
            }
            foreach (var attack in block.GroupBy(r => r.Attack))
                written.Add(Curves(attack.ToList(), $"{prefix}: {attack.Key}, per-epoch CA (solid) and ASR (dashed), first seed", Path.Combine(directory, $"{prefix}-curves-{attack.Key}.png")));
        }
        return written;
    }

    private static string Bars(IReadOnlyList<SummaryRow> rows, Func<SummaryRow, Stat> metric, string yLabel, string title, string path)
    {
        var plot = new Plot();
        var attacks = rows.Select(r => r.Attack).Distinct().OrderBy(SummaryRow.AttackOrder).ToList();
        var defenses = rows.Select(r => r.Defense).Distinct().OrderBy(SummaryRow.DefenseOrder).ToList();
        double width = 0.8 / defenses.Count;
        var bars = new List<Bar>();
        for (int d = 0; d < defenses.Count; d++)
        {
            var color = DefenseColor(defenses[d]);
            for (int a = 0; a < attacks.Count; a++)
            {
                if (rows.FirstOrDefault(r => r.Attack == attacks[a] && r.Defense == defenses[d]) is not { } row) continue;
                var stat = metric(row);
                bars.Add(new Bar
                {
                    Position = a - 0.4 + width * (d + 0.5),
                    Value = stat.Mean * 100,
                    Error = stat.Std * 100,
                    Size = width * 0.9,
                    FillColor = color,
                });
            }
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = defenses[d], FillColor = color });
        }
        plot.Add.Bars(bars);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int a = 0; a < attacks.Count; a++) ticks.AddMajor(a, attacks[a]);
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimits(-0.6, attacks.Count - 0.4, 0, 105);
        plot.YLabel(yLabel);
        plot.Title(title);
        plot.ShowLegend(Edge.Right);
        return Save(plot, path, Math.Max(800, 150 * attacks.Count + 150), 480);
    }

    private static string Curves(IReadOnlyList<SummaryRow> rows, string title, string path)
    {
        var plot = new Plot();
        int index = 0;
        foreach (var row in rows.OrderBy(r => SummaryRow.DefenseOrder(r.Defense)))
        {
            var cell = row.Cells[0];
            var color = DefenseColor(row.Defense);
            // Defense epochs continue after the stage-1 epochs on the x axis.
            int stage1 = cell.Curves.Count(c => c.Phase == "stage1");
            var points = cell.Curves.Select(c => (X: (double)(c.Phase == "stage1" ? c.Epoch : stage1 + c.Epoch), c.CleanAccuracy, c.AttackSuccessRate)).ToList();
            if (points.Count == 0) continue;
            var ca = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.CleanAccuracy * 100).ToArray());
            ca.Color = color;
            ca.LegendText = $"{row.Defense} CA";
            var withAsr = points.Where(p => p.AttackSuccessRate is not null).ToList();
            if (withAsr.Count > 0)
            {
                var asr = plot.Add.Scatter(withAsr.Select(p => p.X).ToArray(), withAsr.Select(p => p.AttackSuccessRate!.Value * 100).ToArray());
                asr.Color = color;
                asr.LinePattern = LinePattern.Dashed;
                asr.LegendText = $"{row.Defense} ASR";
            }
            index++;
        }
        plot.Axes.SetLimitsY(0, 105);
        plot.XLabel("epoch (stage 1, then the defense on the holdout)");
        plot.YLabel("% on the curve subset of the test set");
        plot.Title(title);
        plot.ShowLegend(Edge.Right);
        return Save(plot, path, 1000, 520);
    }

    // ScottPlot writes to a path; write beside the destination and rename so a reader never sees half a PNG.
    private static string Save(Plot plot, string path, int width, int height)
    {
        var temp = path + ".tmp.png";
        plot.SavePng(temp, width, height);
        File.Move(temp, path, overwrite: true);
        return path;
    }
}

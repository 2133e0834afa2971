using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Experiments.Reporting;

/// <summary>Mean and sample standard deviation over seeds (std 0 for one seed); null when no value is present.</summary>
public sealed record Stat(double Mean, double Std, int Count)
{
    /// <summary>The statistic of the present values; null when none is.</summary>
    public static Stat? Of(IEnumerable<double?> values)
    {
        var v = values.Where(x => x.HasValue).Select(x => x!.Value).ToArray();
        if (v.Length == 0) return null;
        double mean = v.Average();
        double std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
        return new Stat(mean, std, v.Length);
    }
}

/// <summary>One attack x defense row: the seeds' results of one data set, backbone and profile.</summary>
public sealed record SummaryRow(
    string Dataset, string Backbone, string Profile, string Attack, double? PoisonRatio, string Defense, IReadOnlyList<int> Seeds,
    Stat CleanAccuracy, Stat? AttackSuccessRate, Stat? RobustAccuracy, Stat? Der,
    Stat? UndefendedCleanAccuracy, Stat? UndefendedAttackSuccessRate, Stat DefenseSeconds, Stat TrainSeconds, IReadOnlyList<CellResult> Cells)
{
    /// <summary>CA on the exact test records (<see cref="CellResult.ExactTest"/>), over the seeds that have it.</summary>
    public Stat? ExactCleanAccuracy => Stat.Of(Cells.Select(c => c.ExactTest?.CleanAccuracy));

    /// <summary>ASR on the exact test records.</summary>
    public Stat? ExactAttackSuccessRate => Stat.Of(Cells.Select(c => c.ExactTest?.AttackSuccessRate));

    /// <summary>DER on the exact test records.</summary>
    public Stat? ExactDer => Stat.Of(Cells.Select(c => c.ExactTest?.Der));

    /// <summary>Undefended CA on the exact test records.</summary>
    public Stat? ExactUndefendedCleanAccuracy => Stat.Of(Cells.Select(c => c.ExactTest?.Undefended?.CleanAccuracy));

    /// <summary>Groups results by data set, backbone, profile, attack (with target and ratio) and defense.</summary>
    public static IReadOnlyList<SummaryRow> Build(IEnumerable<CellResult> results) =>
        results
            .GroupBy(r => (r.Dataset, r.Backbone, r.Profile, r.Attack, r.TargetClass, r.PoisonRatio, r.Defense))
            .Select(g =>
            {
                var cells = g.OrderBy(r => r.Seed).ToList();
                return new SummaryRow(g.Key.Dataset, g.Key.Backbone, g.Key.Profile, g.Key.Attack, g.Key.PoisonRatio, g.Key.Defense,
                    cells.Select(c => c.Seed).ToList(),
                    Stat.Of(cells.Select(c => (double?)c.CleanAccuracy))!,
                    Stat.Of(cells.Select(c => c.AttackSuccessRate)),
                    Stat.Of(cells.Select(c => c.RobustAccuracy)),
                    Stat.Of(cells.Select(c => c.Der)),
                    Stat.Of(cells.Select(c => c.Undefended?.CleanAccuracy)),
                    Stat.Of(cells.Select(c => c.Undefended?.AttackSuccessRate)),
                    Stat.Of(cells.Select(c => (double?)c.DefenseSeconds))!,
                    Stat.Of(cells.Select(c => (double?)c.TrainSeconds))!,
                    cells);
            })
            .OrderBy(r => r.Dataset, StringComparer.Ordinal).ThenBy(r => r.Backbone, StringComparer.Ordinal).ThenBy(r => r.Profile, StringComparer.Ordinal)
            .ThenBy(r => AttackOrder(r.Attack)).ThenBy(r => DefenseOrder(r.Defense))
            .ToList();

    /// <summary>Attacks in the order of docs/attacks.md, none first.</summary>
    public static int AttackOrder(string attack) => attack == "none" ? -1 : IndexOr(CellSpec.Attacks, attack);

    /// <summary>Defenses in the runner's order.</summary>
    public static int DefenseOrder(string defense) => IndexOr(DefenseCatalog.Names, defense);

    private static int IndexOr(IReadOnlyList<string> list, string value)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == value) return i;
        return list.Count;
    }
}

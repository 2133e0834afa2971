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

/// <summary>One attack x defense row: the seeds' results of one data set, backbone and profile. <paramref name="Seeds"/>
/// labels each cell (<see cref="CellResult.SeedLabel"/>: <c>0</c>, or <c>0/d1</c> for a cell that reran only the
/// defense with its own seed), so the means are over exactly the cells it lists.</summary>
public sealed record SummaryRow(
    string Dataset, string Backbone, string Profile, string Attack, double? PoisonRatio, string Defense, IReadOnlyList<string> Seeds,
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
                var cells = g.OrderBy(r => r.Seed).ThenBy(r => r.DefenseSeed ?? -1).ToList();
                return new SummaryRow(g.Key.Dataset, g.Key.Backbone, g.Key.Profile, g.Key.Attack, g.Key.PoisonRatio, g.Key.Defense,
                    cells.Select(c => c.SeedLabel).ToList(),
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
    public static int AttackOrder(string attack) => attack == "none" ? -1 : IndexOr(AttackName.Choices, attack);

    /// <summary>Defenses in the runner's order.</summary>
    public static int DefenseOrder(string defense) => IndexOr(DefenseCatalog.Names, defense);

    private static int IndexOr(IReadOnlyList<string> list, string value)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == value) return i;
        return list.Count;
    }
}

/// <summary>
/// One defense's standing across the attacks of a report block: its mean DER, and how many attacks it defended by the
/// scan-and-cleanse issue's bar (ASR at most <see cref="DefendedAttackSuccess"/>, CA within <see cref="DefendedCleanAccuracyLoss"/>
/// of the network it started from).
/// </summary>
/// <param name="Defense">The defense.</param>
/// <param name="Attacks">Attacks with a DER for it.</param>
/// <param name="MeanDer">Mean DER over <paramref name="Attacks"/>.</param>
/// <param name="Defended">Of those, the attacks it defended.</param>
/// <param name="CommonMeanDer">Mean DER over the attacks every defense of the block has; null when they share none.</param>
public sealed record DefenseStanding(string Defense, IReadOnlyList<string> Attacks, double MeanDer, int Defended, double? CommonMeanDer)
{
    /// <summary>The bar on ASR: 5 %.</summary>
    public const double DefendedAttackSuccess = 0.05;

    /// <summary>The bar on clean accuracy: within 3 points of the undefended network.</summary>
    public const double DefendedCleanAccuracyLoss = 0.03;

    /// <summary>The standings of every defense with a DER among <paramref name="rows"/> (one block: data set, backbone,
    /// profile), in the runner's order, and the attacks all of them share.</summary>
    public static (IReadOnlyList<DefenseStanding> Standings, IReadOnlyList<string> CommonAttacks) Of(IEnumerable<SummaryRow> rows)
    {
        var rated = rows.Where(r => r.Der is not null).ToList();
        var byDefense = rated.GroupBy(r => r.Defense).OrderBy(g => SummaryRow.DefenseOrder(g.Key)).ToList();
        var common = byDefense.Count == 0 ? [] : byDefense
            .Select(g => g.Select(r => r.Attack).ToHashSet())
            .Aggregate((a, b) => { a.IntersectWith(b); return a; })
            .OrderBy(SummaryRow.AttackOrder).ToList();
        var standings = byDefense.Select(g =>
        {
            var attacks = g.OrderBy(r => SummaryRow.AttackOrder(r.Attack)).ToList();
            int defended = attacks.Count(r => r.AttackSuccessRate?.Mean <= DefendedAttackSuccess
                && r.UndefendedCleanAccuracy is { } before && r.CleanAccuracy.Mean >= before.Mean - DefendedCleanAccuracyLoss);
            var shared = attacks.Where(r => common.Contains(r.Attack)).ToList();
            return new DefenseStanding(g.Key, attacks.Select(r => r.Attack).ToList(), attacks.Average(r => r.Der!.Mean), defended,
                shared.Count == 0 ? null : shared.Average(r => r.Der!.Mean));
        }).ToList();
        return (standings, common);
    }
}

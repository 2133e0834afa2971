using System.Globalization;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Cli.Matrix;

/// <summary>
/// Slice <see cref="Index"/> of <see cref="Count"/> (1-based, as Slurm's array index or a Kubernetes indexed Job's
/// completion index + 1). Cells are dealt out by stage-1 group (attack x seed x trap/plain), so the cells that share
/// a stage-1 network land in the same slice and train it once.
/// </summary>
public sealed record Shard(int Index, int Count)
{
    /// <summary>The whole matrix.</summary>
    public static Shard All { get; } = new(1, 1);

    /// <summary>Parses <c>i/n</c>.</summary>
    /// <exception cref="UsageException">Not of the form i/n with 1 &lt;= i &lt;= n.</exception>
    public static Shard Parse(string? text)
    {
        if (text is null) return All;
        var parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            && n >= 1 && i >= 1 && i <= n)
            return new Shard(i, n);
        throw new UsageException($"--shard must be i/n with 1 <= i <= n (e.g. 3/8); got '{text}'");
    }

    /// <summary>The cells of this slice, in matrix order.</summary>
    public IReadOnlyList<CellSpec> Select(IReadOnlyList<CellSpec> cells, int threads)
    {
        var groups = cells.Select(c => Stage1Cache.Key(c, threads)).Distinct().ToList();
        var mine = groups.Where((_, g) => g % Count == Index - 1).ToHashSet();
        return cells.Where(c => mine.Contains(Stage1Cache.Key(c, threads))).ToList();
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace TrapReplace.Data;

/// <summary>
/// A seeded, disjoint split of a training set into the part used for (possibly poisoned) training
/// and a small clean holdout used by stage 2. The holdout is stratified: each class contributes
/// round(fraction * class count) samples, so a 5 % holdout of CIFAR-10 is 250 images per class.
/// The index lists can be saved and reloaded so a defense always sees the same holdout.
/// </summary>
public sealed record HoldoutSplit
{
    /// <summary>Number of samples in the data set the split was made for.</summary>
    public required int DatasetCount { get; init; }

    /// <summary>Requested holdout fraction in (0, 1).</summary>
    public required double Fraction { get; init; }

    /// <summary>Seed of the shuffle that chose the holdout.</summary>
    public required int Seed { get; init; }

    /// <summary>Indices used for training, ascending.</summary>
    public required IReadOnlyList<int> TrainIndices { get; init; }

    /// <summary>Indices of the clean holdout, ascending; disjoint from <see cref="TrainIndices"/>.</summary>
    public required IReadOnlyList<int> HoldoutIndices { get; init; }

    /// <summary>Creates a stratified split of <paramref name="labels"/> with a local seeded generator.</summary>
    /// <param name="labels">The label of each sample.</param>
    /// <param name="fraction">Holdout fraction; the reference uses 0.05 on CIFAR-10 and GTSRB.</param>
    /// <param name="seed">Data seed.</param>
    public static HoldoutSplit Create(IReadOnlyList<long> labels, double fraction = 0.05, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (!(fraction > 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "holdout fraction must be in (0, 1)");
        if (labels.Count < 2)
            throw new ArgumentException($"need at least 2 samples to split; got {labels.Count}", nameof(labels));

        var random = new Random(seed);
        var holdout = new List<int>();
        foreach (var group in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            random.Shuffle(members);
            holdout.AddRange(members.Take(ClassTake(fraction, members.Length)));
        }
        if (holdout.Count == 0)
            throw new ArgumentException($"a holdout fraction of {fraction} leaves no holdout sample in a set of {labels.Count}", nameof(fraction));
        holdout.Sort();
        var isHoldout = new bool[labels.Count];
        foreach (var i in holdout) isHoldout[i] = true;
        var train = Enumerable.Range(0, labels.Count).Where(i => !isHoldout[i]).ToArray();
        return new HoldoutSplit { DatasetCount = labels.Count, Fraction = fraction, Seed = seed, TrainIndices = train, HoldoutIndices = holdout };
    }

    /// <summary>How many samples <see cref="Create"/> holds out of <paramref name="labels"/> (for any seed), without splitting.</summary>
    internal static int HeldOutCount(IReadOnlyList<long> labels, double fraction) =>
        labels.GroupBy(label => label).Sum(group => ClassTake(fraction, group.Count()));

    // Per class, round(fraction x members), so every class is represented in proportion.
    private static int ClassTake(double fraction, int members) =>
        Math.Min((int)Math.Round(fraction * members, MidpointRounding.AwayFromZero), members);

    /// <summary>Splits <paramref name="dataset"/> and returns the two parts (the caller owns them).</summary>
    public (ImageDataset Train, ImageDataset Holdout) Apply(ImageDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (dataset.Count != DatasetCount)
            throw new ArgumentException($"the split was made for {DatasetCount} samples; the data set has {dataset.Count}", nameof(dataset));
        return (dataset.Subset(TrainIndices, $"{dataset.Name}-train"), dataset.Subset(HoldoutIndices, $"{dataset.Name}-holdout"));
    }

    /// <summary>Saves the split as JSON, atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));

    /// <summary>Loads a split saved by <see cref="Save"/>, checking that it is consistent.</summary>
    /// <exception cref="DatasetFormatException">The file is missing, not JSON, or its index lists are invalid.</exception>
    public static HoldoutSplit Load(string path)
    {
        if (!File.Exists(path)) throw new DatasetFormatException(path, "split file not found");
        HoldoutSplit? split;
        try
        {
            split = JsonSerializer.Deserialize<HoldoutSplit>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new DatasetFormatException(path, $"not a valid split file: {ex.Message}", ex);
        }
        if (split is null) throw new DatasetFormatException(path, "split file is empty");
        var all = split.TrainIndices.Concat(split.HoldoutIndices).ToArray();
        if (all.Length != split.DatasetCount || all.Distinct().Count() != all.Length || all.Any(i => i < 0 || i >= split.DatasetCount))
            throw new DatasetFormatException(path, $"index lists must partition 0..{split.DatasetCount - 1} without overlap");
        return split;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = false,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}

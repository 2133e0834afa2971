using static TorchSharp.torch;

namespace TrapReplace.Data;

/// <summary>One mini-batch: float32 images (B, 3, H, W) in [0, 1], int64 labels (B), and the
/// data-set index of each sample (B) int64.</summary>
public readonly record struct Batch(Tensor Images, Tensor Labels, Tensor Indices);

/// <summary>
/// Mini-batches over an <see cref="ImageDataset"/>: a seeded shuffle per epoch and seeded
/// augmentation per batch. The randomness of batch k of epoch e depends only on (seed, e, k), so a
/// run resumed at any epoch sees exactly the batches an uninterrupted run would.
/// </summary>
/// <remarks>
/// Tensors of a batch are created when it is loaded, inside the caller's dispose scope: open the
/// scope first, then call <see cref="Load"/> (or iterate with <see cref="Epoch"/> inside a scope per step).
/// </remarks>
public sealed class BatchLoader
{
    /// <summary>Creates a loader; the data set stays owned by the caller.</summary>
    /// <param name="dataset">Source images.</param>
    /// <param name="batchSize">Samples per batch (> 0).</param>
    /// <param name="shuffle">Shuffle the order each epoch.</param>
    /// <param name="dropLast">Skip the final incomplete batch (the reference does for training).</param>
    /// <param name="augmentation">Per-batch augmentation; <see cref="Augmentation.None"/> for evaluation.</param>
    /// <param name="seed">Data seed for shuffling and augmentation.</param>
    public BatchLoader(ImageDataset dataset, int batchSize, bool shuffle, bool dropLast, Augmentation? augmentation = null, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        Dataset = dataset;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Augmentation = augmentation ?? Augmentation.None;
        Seed = seed;
    }

    /// <summary>The data set read.</summary>
    public ImageDataset Dataset { get; }

    /// <summary>Samples per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch is shuffled.</summary>
    public bool Shuffle { get; }

    /// <summary>Whether the final incomplete batch is skipped.</summary>
    public bool DropLast { get; }

    /// <summary>The augmentation applied to each batch.</summary>
    public Augmentation Augmentation { get; }

    /// <summary>The data seed.</summary>
    public int Seed { get; }

    /// <summary>Batches per epoch.</summary>
    public int BatchesPerEpoch => DropLast ? Dataset.Count / BatchSize : (Dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>The sample order of epoch <paramref name="epoch"/> split into batches.</summary>
    public int[][] PlanEpoch(int epoch)
    {
        var order = Enumerable.Range(0, Dataset.Count).ToArray();
        if (Shuffle) new Random(MixSeed(Seed, epoch, -1)).Shuffle(order);
        return Enumerable.Range(0, BatchesPerEpoch)
            .Select(k => order.AsSpan(k * BatchSize, Math.Min(BatchSize, order.Length - k * BatchSize)).ToArray())
            .ToArray();
    }

    /// <summary>Loads (and augments) the samples at <paramref name="indices"/> as batch
    /// <paramref name="batchNumber"/> of <paramref name="epoch"/>.</summary>
    public Batch Load(int[] indices, int epoch, int batchNumber)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var index = tensor(indices.Select(i => (long)i).ToArray(), ScalarType.Int64);
        var raw = Dataset.Images.index_select(0, index);
        Tensor images;
        if (Augmentation.IsIdentity)
        {
            images = raw.to(ScalarType.Float32).div_(255f);
        }
        else
        {
            using var generator = new Generator((ulong)(uint)MixSeed(Seed, epoch, batchNumber));
            images = Augmentation.Apply(raw, generator).to(ScalarType.Float32).div_(255f);
        }
        return new Batch(images, Dataset.Labels.index_select(0, index), index);
    }

    /// <summary>
    /// The batches of one epoch, loaded lazily: each batch's tensors are created inside whatever
    /// dispose scope is current when the enumerator advances.
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch)
    {
        var plan = PlanEpoch(epoch);
        for (int k = 0; k < plan.Length; k++) yield return Load(plan[k], epoch, k);
    }

    /// <summary>A stable 31-bit seed from a base seed and two counters (no global state).</summary>
    public static int MixSeed(int seed, int a, int b)
    {
        unchecked
        {
            ulong x = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)a * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(uint)b * 0x165667B19E3779F9UL;
            x ^= x >> 33; x *= 0xFF51AFD7ED558CCDUL; x ^= x >> 33; x *= 0xC4CEB9FE1A85EC53UL; x ^= x >> 33;
            return (int)(x & 0x7FFFFFFF);
        }
    }
}

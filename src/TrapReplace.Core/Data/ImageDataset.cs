using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Data;

/// <summary>
/// An in-memory labelled image data set. Images are stored as uint8 (N, 3, H, W) to keep
/// CIFAR-sized sets at 150 MB instead of 600 MB; <see cref="GetBatch"/> converts a selection to
/// float32 in [0, 1]. The data set owns its tensors and disposes them.
/// </summary>
public sealed class ImageDataset : IDisposable
{
    private ImageDataset(Tensor images, Tensor labels, IReadOnlyList<string> classNames, string name)
    {
        Images = images;
        Labels = labels;
        ClassNames = classNames;
        Name = name;
    }

    /// <summary>Images, (N, 3, H, W) uint8 in [0, 255], on the CPU.</summary>
    public Tensor Images { get; }

    /// <summary>Labels, (N) int64 in [0, <see cref="ClassCount"/>).</summary>
    public Tensor Labels { get; }

    /// <summary>Class names; index i is label i.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>A short description of where the data came from (for logs and result files).</summary>
    public string Name { get; }

    /// <summary>Number of classes.</summary>
    public int ClassCount => ClassNames.Count;

    /// <summary>Number of images.</summary>
    public int Count => (int)Labels.shape[0];

    /// <summary>Image height in pixels.</summary>
    public int Height => (int)Images.shape[2];

    /// <summary>Image width in pixels.</summary>
    public int Width => (int)Images.shape[3];

    /// <summary>
    /// Creates a data set from images (N, 3, H, W), uint8 in [0, 255] or floating point in [0, 1], and int64 labels
    /// (N). Images are stored as uint8: floating-point images are scaled by 255 and rounded to the nearest level, which
    /// moves each pixel by at most 1/510 (an attack's poisoned images keep their trigger; a perturbation finer than
    /// that is lost). The tensors are copied, so the caller keeps ownership of its own.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes, types or label values are inconsistent.</exception>
    public static ImageDataset FromTensors(Tensor images, Tensor labels, IReadOnlyList<string> classNames, string name = "in-memory")
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"images must be (N, 3, H, W); got ({string.Join(", ", images.shape)})", nameof(images));
        if (labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException($"labels must be (N) with N = {images.shape[0]}; got ({string.Join(", ", labels.shape)})", nameof(labels));
        if (classNames.Count == 0)
            throw new ArgumentException("at least one class name is required", nameof(classNames));

        Tensor storedImages;
        if (images.dtype == ScalarType.Byte)
        {
            storedImages = images.detach().cpu().clone();
        }
        else if (images.is_floating_point())
        {
            using var scope = NewDisposeScope();
            var cpu = images.detach().cpu();
            double min = cpu.min().ToDouble(), max = cpu.max().ToDouble();
            if (min < 0 || max > 1)
                throw new ArgumentException($"float images must be in [0, 1]; got range [{min}, {max}]", nameof(images));
            storedImages = cpu.mul(255).round_().to(ScalarType.Byte).MoveToOuterDisposeScope();
        }
        else
        {
            throw new ArgumentException($"images must be uint8 or floating point; got {images.dtype}", nameof(images));
        }

        var storedLabels = labels.detach().cpu().to(ScalarType.Int64).clone();
        if (storedLabels.numel() > 0)
        {
            long min = storedLabels.min().ToInt64(), max = storedLabels.max().ToInt64();
            if (min < 0 || max >= classNames.Count)
            {
                storedImages.Dispose();
                storedLabels.Dispose();
                throw new ArgumentException($"labels must be in [0, {classNames.Count}); got range [{min}, {max}]", nameof(labels));
            }
        }
        return new ImageDataset(storedImages, storedLabels, classNames.ToArray(), name);
    }

    /// <summary>Wraps tensors this data set will own without copying (used by the loaders).</summary>
    internal static ImageDataset Own(Tensor uint8Images, Tensor int64Labels, IReadOnlyList<string> classNames, string name) =>
        new(uint8Images, int64Labels, classNames, name);

    /// <summary>The images at <paramref name="indices"/> as float32 (B, 3, H, W) in [0, 1], and their labels (B) int64.</summary>
    public (Tensor Images, Tensor Labels) GetBatch(Tensor indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var images = Images.index_select(0, indices).to(ScalarType.Float32).div_(255f);
        var labels = Labels.index_select(0, indices);
        return (images, labels);
    }

    /// <summary>All images as float32 (N, 3, H, W) in [0, 1] (a new tensor the caller owns).</summary>
    public Tensor ImagesAsFloat() => Images.to(ScalarType.Float32).div_(255f);

    /// <summary>Images <paramref name="start"/> .. start + count as float32 (count, 3, H, W) in [0, 1] (a new tensor the
    /// caller owns): one batch of a pass over the whole set.</summary>
    public Tensor ImagesAsFloat(long start, long count) => Images.narrow(0, start, count).to(ScalarType.Float32).div_(255f);

    /// <summary>A new data set holding the samples at <paramref name="indices"/>, in that order.</summary>
    public ImageDataset Subset(IReadOnlyList<int> indices, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        foreach (var i in indices)
            if (i < 0 || i >= Count)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"index must be in [0, {Count})");
        using var index = tensor(indices.Select(i => (long)i).ToArray(), ScalarType.Int64);
        return new ImageDataset(Images.index_select(0, index), Labels.index_select(0, index), ClassNames, name ?? $"{Name}[{indices.Count}]");
    }

    /// <summary>Labels copied to a managed array.</summary>
    public long[] LabelArray() => Labels.data<long>().ToArray();

    /// <summary>Number of images per class, index = label.</summary>
    public int[] CountPerClass()
    {
        var counts = new int[ClassCount];
        foreach (var label in LabelArray()) counts[label]++;
        return counts;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

using static TorchSharp.torch;

namespace TrapReplace.Data;

/// <summary>
/// Training augmentation of the reference: random crop to the input size after zero padding,
/// and a horizontal flip with probability 0.5. Applied to whole batches on tensors.
/// </summary>
public sealed record Augmentation
{
    /// <summary>No augmentation (evaluation).</summary>
    public static Augmentation None { get; } = new() { Padding = 0, HorizontalFlip = false };

    /// <summary>The reference's CIFAR-10/GTSRB augmentation: pad 4, random 32x32 crop, horizontal flip.</summary>
    public static Augmentation Standard { get; } = new();

    /// <summary>Zero padding on each side before the random crop; 0 disables cropping.</summary>
    /// <value>4, as the reference.</value>
    public int Padding { get; init; } = 4;

    /// <summary>Flip each image left-right with probability 0.5.</summary>
    /// <value>true, as the reference.</value>
    public bool HorizontalFlip { get; init; } = true;

    /// <summary>True when the augmentation changes anything.</summary>
    public bool IsIdentity => Padding == 0 && !HorizontalFlip;

    /// <summary>
    /// Augments a batch (B, C, H, W) of any dtype, drawing crop offsets and flips from
    /// <paramref name="generator"/>. Every image gets its own offsets; the work is a pad, two
    /// gathers and one masked select for the whole batch, so it costs little beside a training step.
    /// </summary>
    public Tensor Apply(Tensor images, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (Padding < 0) throw new InvalidOperationException($"Padding must be >= 0; got {Padding}");
        if (IsIdentity) return images.alias();
        long b = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        var result = images;
        if (Padding > 0)
        {
            var padded = nn.functional.pad(images, [Padding, Padding, Padding, Padding]);
            var offsetY = randint(0, 2 * Padding + 1, [b, 1, 1, 1], generator: generator, dtype: ScalarType.Int64);
            var offsetX = randint(0, 2 * Padding + 1, [b, 1, 1, 1], generator: generator, dtype: ScalarType.Int64);
            var rows = (arange(h, dtype: ScalarType.Int64).view(1, 1, h, 1) + offsetY).expand(b, c, h, w + 2 * Padding);
            var cropped = padded.gather(2, rows);
            var cols = (arange(w, dtype: ScalarType.Int64).view(1, 1, 1, w) + offsetX).expand(b, c, h, w);
            result = cropped.gather(3, cols);
        }
        if (HorizontalFlip)
        {
            var flip = rand([b, 1, 1, 1], generator: generator).lt(0.5);
            result = where(flip, result.flip(3), result);
        }
        return result;
    }
}

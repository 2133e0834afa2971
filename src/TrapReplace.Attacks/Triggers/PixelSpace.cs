using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Triggers;

/// <summary>
/// Helpers shared by the triggers: input validation and the uint8-space round trip the reference
/// implementations use (x·255 rounded to the uint8 grid, arithmetic in float64, clip to [0, 255],
/// truncation, division by 255).
/// </summary>
internal static class PixelSpace
{
    /// <summary>Throws unless <paramref name="images"/> is a floating (N, 3, H, W) batch in [0, 1].</summary>
    public static void ValidateImages(Tensor images, string paramName = "images")
    {
        ArgumentNullException.ThrowIfNull(images, paramName);
        if (images.dim() != 4 || images.shape[1] != 3)
        {
            throw new ArgumentException(
                $"Expected images of shape (N, 3, H, W), got ({string.Join(", ", images.shape)}).", paramName);
        }

        if (!images.is_floating_point())
        {
            throw new ArgumentException($"Expected floating-point images in [0, 1], got dtype {images.dtype}.", paramName);
        }

        if (images.numel() == 0)
        {
            return;
        }

        using var scope = NewDisposeScope();
        double min = images.min().ToDouble();
        double max = images.max().ToDouble();
        if (!(min >= 0.0 && max <= 1.0))
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture,
                    $"Images must lie in [0, 1]; found values from {min:R} to {max:R}."),
                paramName);
        }
    }

    /// <summary>Throws when the images are smaller than the canvas a trigger is defined on.</summary>
    public static void ValidateAtLeast(Tensor images, long referenceHeight, long referenceWidth, string triggerName)
    {
        long h = images.shape[2], w = images.shape[3];
        if (h < referenceHeight || w < referenceWidth)
        {
            throw new ArgumentException(
                $"The trigger '{triggerName}' is defined on a {referenceHeight}x{referenceWidth} canvas and is larger than the " +
                $"{h}x{w} images; images must be at least {referenceHeight}x{referenceWidth}.",
                nameof(images));
        }
    }

    /// <summary>Maps [0, 1] images onto the uint8 grid: round(x·255), as float64.</summary>
    public static Tensor ToUint8Space(Tensor images) => images.to_type(ScalarType.Float64).mul(255.0).round_();

    /// <summary>Clips to [0, 255], truncates to an integer and divides by 255, returning <paramref name="dtype"/>.</summary>
    public static Tensor FromUint8Space(Tensor values, ScalarType dtype) =>
        values.clamp(0.0, 255.0).floor_().div_(255.0).to_type(dtype);

    /// <summary>Resizes a (C, h, w) canvas to (C, H, W) with nearest-neighbour sampling (source index floor(i·h/H)).</summary>
    public static Tensor ResizeNearest(Tensor canvas, long height, long width)
    {
        if (canvas.shape[1] == height && canvas.shape[2] == width)
        {
            return canvas.alias();
        }

        using var batched = canvas.unsqueeze(0);
        using var resized = nn.functional.interpolate(batched, size: new[] { height, width }, mode: InterpolationMode.Nearest);
        return resized.squeeze(0);
    }
}

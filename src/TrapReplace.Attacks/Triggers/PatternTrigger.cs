using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Triggers;

/// <summary>
/// A fixed pattern defined on a reference canvas (32x32 for every built-in trigger) and combined with
/// each image in uint8 space. Most built-in triggers are instances of this class; see
/// <see cref="BuiltInTriggers"/> for their formulas.
/// </summary>
/// <remarks>
/// <para>Arithmetic: u = round(x·255) (the uint8 grid), then the <see cref="PatternComposition"/> formula
/// in float64, then clip to [0, 255], truncate (floor) and divide by 255, as the reference T&amp;R code does
/// with NumPy before casting to uint8.</para>
/// <para>Resolution: for images of H x W the pattern and mask are resized from the canvas with
/// nearest-neighbour sampling (image row r reads canvas row ⌊r·h/H⌋), so the geometry scales
/// proportionally: the 3x3 patch at rows/cols 29–31 of a 32x32 canvas covers rows/cols 203–223 of a
/// 224x224 image. Images smaller than the canvas are rejected.</para>
/// </remarks>
public sealed class PatternTrigger : ITrigger
{
    private readonly float[] pattern;
    private readonly float[]? mask;

    /// <summary>Creates a pattern trigger.</summary>
    /// <param name="name">The trigger name.</param>
    /// <param name="canvasHeight">Height h of the reference canvas, at least 1.</param>
    /// <param name="canvasWidth">Width w of the reference canvas, at least 1.</param>
    /// <param name="pattern">The pattern t, 3·h·w values in channel-major (C, h, w) order on the 0–255 scale.</param>
    /// <param name="mask">For <see cref="PatternComposition.Replace"/>: h·w values in [0, 1] shared by the three
    /// channels (null means the whole canvas). Must be null for the other compositions.</param>
    /// <param name="composition">How the pattern combines with the image.</param>
    /// <param name="alpha">Blend weight α in [0, 1]; used only by <see cref="PatternComposition.Blend"/>.</param>
    /// <exception cref="ArgumentException">A size, value or weight is invalid.</exception>
    public PatternTrigger(
        string name,
        int canvasHeight,
        int canvasWidth,
        IReadOnlyList<float> pattern,
        IReadOnlyList<float>? mask,
        PatternComposition composition,
        double alpha = 0.2)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentOutOfRangeException.ThrowIfLessThan(canvasHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(canvasWidth, 1);
        int plane = canvasHeight * canvasWidth;
        if (pattern.Count != 3 * plane)
        {
            throw new ArgumentException($"Expected 3·{canvasHeight}·{canvasWidth} = {3 * plane} pattern values, got {pattern.Count}.", nameof(pattern));
        }

        if (pattern.Any(v => !(v >= 0f && v <= 255f)))
        {
            throw new ArgumentException("Pattern values must lie in [0, 255].", nameof(pattern));
        }

        if (mask is not null)
        {
            if (composition != PatternComposition.Replace)
            {
                throw new ArgumentException($"A mask is only used by {nameof(PatternComposition.Replace)}, not by {composition}.", nameof(mask));
            }

            if (mask.Count != plane)
            {
                throw new ArgumentException($"Expected {plane} mask values, got {mask.Count}.", nameof(mask));
            }

            if (mask.Any(v => !(v >= 0f && v <= 1f)))
            {
                throw new ArgumentException("Mask values must lie in [0, 1].", nameof(mask));
            }
        }

        if (!(alpha >= 0.0 && alpha <= 1.0))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha,
                string.Create(CultureInfo.InvariantCulture, $"The blend weight must lie in [0, 1]; got {alpha}."));
        }

        if (!Enum.IsDefined(composition))
        {
            throw new ArgumentOutOfRangeException(nameof(composition), composition, "Unknown composition.");
        }

        Name = name;
        CanvasHeight = canvasHeight;
        CanvasWidth = canvasWidth;
        this.pattern = pattern.ToArray();
        this.mask = mask?.ToArray();
        Composition = composition;
        Alpha = alpha;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Gets the height of the reference canvas.</summary>
    public int CanvasHeight { get; }

    /// <summary>Gets the width of the reference canvas.</summary>
    public int CanvasWidth { get; }

    /// <summary>Gets how the pattern combines with the image.</summary>
    public PatternComposition Composition { get; }

    /// <summary>Gets the blend weight α (meaningful for <see cref="PatternComposition.Blend"/> only).</summary>
    public double Alpha { get; }

    /// <summary>Gets a copy of the pattern, 3·h·w values on the 0–255 scale in (C, h, w) order.</summary>
    public IReadOnlyList<float> Pattern => (float[])pattern.Clone();

    /// <summary>Gets a copy of the mask (h·w values in [0, 1]), or null when the whole canvas is used.</summary>
    public IReadOnlyList<float>? Mask => (float[]?)mask?.Clone();

    /// <inheritdoc />
    public Tensor Apply(Tensor images)
    {
        PixelSpace.ValidateImages(images);
        PixelSpace.ValidateAtLeast(images, CanvasHeight, CanvasWidth, Name);
        using var scope = NewDisposeScope();
        long height = images.shape[2], width = images.shape[3];
        var device = images.device;
        var t = PixelSpace.ResizeNearest(
            tensor(pattern, new long[] { 3, CanvasHeight, CanvasWidth }).to_type(ScalarType.Float64), height, width).to(device);
        var u = PixelSpace.ToUint8Space(images);
        Tensor combined;
        switch (Composition)
        {
            case PatternComposition.Replace:
                if (mask is null)
                {
                    combined = t.unsqueeze(0).expand_as(u);
                }
                else
                {
                    var m = PixelSpace.ResizeNearest(
                        tensor(mask, new long[] { 1, CanvasHeight, CanvasWidth }).to_type(ScalarType.Float64), height, width).to(device);
                    combined = u.mul(m.neg().add_(1.0)).add_(t.mul(m));
                }

                break;
            case PatternComposition.Add:
                combined = u.add(t);
                break;
            default:
                combined = u.mul(1.0 - Alpha).add_(t.mul(Alpha));
                break;
        }

        return PixelSpace.FromUint8Space(combined, images.dtype).MoveToOuterDisposeScope();
    }
}

using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Triggers;

/// <summary>
/// The Smooth trigger: a low-frequency colour pattern t (values 0–<see cref="Amplitude"/>) is added to each
/// image, and every image is then min-max rescaled to [0, 255] on its own (over all channels and pixels),
/// clipped and truncated.
/// </summary>
/// <remarks>
/// <para>Zeng et al., "Rethinking the backdoor attacks' triggers: a frequency perspective", ICCV 2021.</para>
/// <para>Pattern formula: z uniform in [0, 1) of shape (3, k, k) from the seeded generator, upsampled
/// bicubically (align_corners true) straight to the image size H x W, then
/// t = round(A·(z' − min z') / (max z' − min z')) with A = 51. Because t is upsampled from the same k x k
/// grid at every resolution, the pattern keeps its shape at 224x224. Arithmetic: u = round(x·255),
/// v = u + t, x' = ⌊clip(255·(v − min v)/(max v − min v), 0, 255)⌋ / 255 (an image whose v is constant keeps
/// v), as the reference T&amp;R code's <c>_normalization</c>.</para>
/// </remarks>
public sealed class SmoothTrigger : ITrigger
{
    private readonly float[] grid;

    /// <summary>Creates a Smooth trigger.</summary>
    /// <param name="seed">Seed of the pattern generator.</param>
    /// <param name="amplitude">Largest pattern value A on the 0–255 scale, in (0, 255]; 51 as in the reference.</param>
    /// <param name="gridSize">Side k of the random grid the pattern is upsampled from, at least 2; 4 by default.</param>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is out of range.</exception>
    public SmoothTrigger(int seed = 0, double amplitude = 51.0, int gridSize = 4)
    {
        if (!(amplitude > 0.0 && amplitude <= 255.0))
        {
            throw new ArgumentOutOfRangeException(nameof(amplitude), amplitude,
                string.Create(CultureInfo.InvariantCulture, $"The Smooth amplitude must lie in (0, 255]; got {amplitude}."));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(gridSize, 2);
        Seed = seed;
        Amplitude = amplitude;
        GridSize = gridSize;
        using var generator = BuiltInTriggers.NewGenerator(seed);
        using var scope = NewDisposeScope();
        grid = rand(new long[] { 3 * gridSize * gridSize }, dtype: ScalarType.Float32, generator: generator).data<float>().ToArray();
    }

    /// <inheritdoc />
    public string Name => "smooth";

    /// <summary>Gets the seed of the pattern.</summary>
    public int Seed { get; }

    /// <summary>Gets the largest pattern value A (0–255 scale).</summary>
    public double Amplitude { get; }

    /// <summary>Gets the side k of the random grid.</summary>
    public int GridSize { get; }

    /// <summary>Builds the pattern t for an image size.</summary>
    /// <param name="height">Image height H, at least 1.</param>
    /// <param name="width">Image width W, at least 1.</param>
    /// <returns>A new (3, H, W) float64 tensor on the CPU with values in {0, …, A}. The caller owns it.</returns>
    public Tensor Pattern(long height, long width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        using var scope = NewDisposeScope();
        var z = tensor(grid, new long[] { 1, 3, GridSize, GridSize }).to_type(ScalarType.Float64);
        var up = nn.functional.interpolate(z, size: new[] { height, width }, mode: InterpolationMode.Bicubic, align_corners: true).squeeze(0);
        var min = up.min();
        var range = up.max().sub(min);
        return up.sub(min).div(range).mul(Amplitude).round().MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Apply(Tensor images)
    {
        PixelSpace.ValidateImages(images);
        using var scope = NewDisposeScope();
        var t = Pattern(images.shape[2], images.shape[3]).to(images.device);
        var v = PixelSpace.ToUint8Space(images).add_(t);
        var flat = v.flatten(1);
        var min = flat.amin(new long[] { 1 }, keepdim: true).view(-1, 1, 1, 1);
        var range = flat.amax(new long[] { 1 }, keepdim: true).view(-1, 1, 1, 1).sub(min);
        var rescaled = v.sub(min).div(range).mul_(255.0);
        var result = where(range.gt(0.0), rescaled, v);
        return PixelSpace.FromUint8Space(result, images.dtype).MoveToOuterDisposeScope();
    }
}

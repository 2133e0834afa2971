using System.Globalization;
using TorchSharp;
using TrapReplace.Attacks.Triggers;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Warping;

/// <summary>
/// The WaNet trigger: a fixed, smooth, image-independent warp applied with
/// <c>torch.nn.functional.grid_sample</c> (bilinear, zero padding, align_corners true).
/// </summary>
/// <remarks>
/// <para>Nguyen and Tran, "WaNet – imperceptible warping-based backdoor attack", ICLR 2021.</para>
/// <para>Flow field: z uniform in [−1, 1) of shape (2, k, k) from the seeded generator, normalised to z / mean|z|,
/// upsampled bicubically (align_corners true) to H x W. Sampling grid:
/// G = clip((I + s·(z_x / W, z_y / H))·r, −1, 1), with I the identity grid of linspace(−1, 1) coordinates, s the strength
/// and r grid_rescale (WaNet divides both components by the input height; for square images it is the same).
/// Warping works on floats directly, without the uint8 round trip of the patch triggers; the result is clipped to [0, 1].
/// Any resolution works, as the flow is upsampled from the same k x k field. With s = 0 and r = 1 the warp is the identity.</para>
/// </remarks>
public sealed class WarpingTrigger : ITrigger
{
    private readonly float[] flow;

    /// <summary>Creates the trigger.</summary>
    /// <param name="gridSize">Side k of the random flow field, at least 2; 4 in WaNet.</param>
    /// <param name="strength">Warping strength s, at least 0; 0.5 in WaNet (BackdoorBench).</param>
    /// <param name="gridRescale">Grid rescale r, greater than 0; 1 in WaNet.</param>
    /// <param name="seed">Seed of the flow field.</param>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is out of range.</exception>
    public WarpingTrigger(int gridSize = 4, double strength = 0.5, double gridRescale = 1.0, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gridSize, 2);
        if (!(strength >= 0.0 && double.IsFinite(strength)))
        {
            throw new ArgumentOutOfRangeException(nameof(strength), strength,
                string.Create(CultureInfo.InvariantCulture, $"The warping strength must be a finite value ≥ 0; got {strength}."));
        }

        if (!(gridRescale > 0.0 && double.IsFinite(gridRescale)))
        {
            throw new ArgumentOutOfRangeException(nameof(gridRescale), gridRescale,
                string.Create(CultureInfo.InvariantCulture, $"The grid rescale must be positive; got {gridRescale}."));
        }

        GridSize = gridSize;
        Strength = strength;
        GridRescale = gridRescale;
        Seed = seed;
        using var generator = BuiltInTriggers.NewGenerator(seed);
        using var scope = NewDisposeScope();
        var z = rand(new long[] { 2 * gridSize * gridSize }, dtype: ScalarType.Float32, generator: generator).mul(2.0).sub(1.0);
        flow = z.div(z.abs().mean()).data<float>().ToArray();
    }

    /// <inheritdoc />
    public string Name => "wanet";

    /// <summary>Gets the side k of the flow field.</summary>
    public int GridSize { get; }

    /// <summary>Gets the warping strength s.</summary>
    public double Strength { get; }

    /// <summary>Gets the grid rescale r.</summary>
    public double GridRescale { get; }

    /// <summary>Gets the seed of the flow field.</summary>
    public int Seed { get; }

    /// <summary>Builds the sampling grid G for an image size.</summary>
    /// <param name="height">Image height H, at least 2.</param>
    /// <param name="width">Image width W, at least 2.</param>
    /// <param name="device">Device of the grid; the CPU when null.</param>
    /// <returns>A new (1, H, W, 2) float64 grid in [−1, 1] (last axis: x then y, as grid_sample expects). The caller owns it.</returns>
    public Tensor SamplingGrid(long height, long width, Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 2);
        using var scope = NewDisposeScope();
        var field = tensor(flow, new long[] { 1, 2, GridSize, GridSize }).to_type(ScalarType.Float64);
        var noise = nn.functional.interpolate(field, size: new[] { height, width }, mode: InterpolationMode.Bicubic, align_corners: true)
            .permute(0, 2, 3, 1)
            .div(tensor(new double[] { width, height }));
        var xs = linspace(-1.0, 1.0, width, dtype: ScalarType.Float64).view(1, 1, width).expand(1, height, width);
        var ys = linspace(-1.0, 1.0, height, dtype: ScalarType.Float64).view(1, height, 1).expand(1, height, width);
        var identity = stack(new[] { xs, ys }, 3);
        var grid = identity.add(noise.mul(Strength)).mul(GridRescale).clamp(-1.0, 1.0);
        return (device is null ? grid : grid.to(device)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Apply(Tensor images)
    {
        PixelSpace.ValidateImages(images);
        using var scope = NewDisposeScope();
        var grid = SamplingGrid(images.shape[2], images.shape[3], images.device);
        return Warp(images, grid.expand(images.shape[0], -1, -1, -1)).MoveToOuterDisposeScope();
    }

    /// <summary>Samples <paramref name="images"/> at <paramref name="grid"/> (N, H, W, 2) in float64 (so that the identity
    /// grid reproduces the image to float32 precision) and clips to [0, 1]; returns the images' dtype.</summary>
    internal static Tensor Warp(Tensor images, Tensor grid)
    {
        using var scope = NewDisposeScope();
        var sampled = nn.functional.grid_sample(images.to_type(ScalarType.Float64), grid.to_type(ScalarType.Float64),
            GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros, align_corners: true);
        return sampled.clamp_(0.0, 1.0).to_type(images.dtype).MoveToOuterDisposeScope();
    }
}

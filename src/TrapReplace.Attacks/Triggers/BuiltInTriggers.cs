using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Triggers;

/// <summary>
/// The procedurally generated triggers of the built-in attacks. Every pattern comes from the formula
/// documented on its factory method and, where random, from a seeded local <see cref="torch.Generator"/>
/// (CPU), so the same seed always gives the same trigger and no third-party image is needed.
/// </summary>
/// <remarks>
/// All patterns are defined on a 32x32 canvas (rows and columns numbered 0–31, top-left origin) and
/// scale to other resolutions as described on <see cref="PatternTrigger"/>.
/// </remarks>
public static class BuiltInTriggers
{
    /// <summary>Side of the reference canvas every built-in pattern is defined on.</summary>
    public const int CanvasSize = 32;

    private const int Plane = CanvasSize * CanvasSize;

    /// <summary>The 3x3 grid patch of BadNets (grid) and of the label-consistent attack, row by row, on the 0–255 scale.</summary>
    private static readonly float[,] GridPatch = { { 0, 0, 255 }, { 0, 255, 0 }, { 255, 0, 255 } };

    /// <summary>BadNets (square): a white 4x4 square replacing rows/cols 27–30 on all channels.</summary>
    /// <returns>A <see cref="PatternComposition.Replace"/> trigger named "badnets".</returns>
    /// <remarks>Gu, Dolan-Gavitt and Garg, "BadNets: Identifying vulnerabilities in the machine learning model
    /// supply chain", arXiv:1708.06733, 2017. Location as in the reference T&amp;R code.</remarks>
    public static PatternTrigger BadNetsSquare()
    {
        var (pattern, mask) = NewCanvas();
        for (int r = 27; r <= 30; r++)
        {
            for (int c = 27; c <= 30; c++)
            {
                SetAllChannels(pattern, r, c, 255f);
                mask[(r * CanvasSize) + c] = 1f;
            }
        }

        return new PatternTrigger("badnets", CanvasSize, CanvasSize, pattern, mask, PatternComposition.Replace);
    }

    /// <summary>BadNets (grid): the 3x3 patch [[0, 0, 255], [0, 255, 0], [255, 0, 255]] replacing rows/cols 29–31
    /// on all channels.</summary>
    /// <returns>A <see cref="PatternComposition.Replace"/> trigger named "badnets-grid".</returns>
    /// <remarks>Gu, Dolan-Gavitt and Garg, "BadNets", arXiv:1708.06733, 2017; grid values and location as in the
    /// reference T&amp;R code.</remarks>
    public static PatternTrigger BadNetsGrid()
    {
        var (pattern, mask) = NewCanvas();
        StampGrid(pattern, mask, 29, 29);
        return new PatternTrigger("badnets-grid", CanvasSize, CanvasSize, pattern, mask, PatternComposition.Replace);
    }

    /// <summary>The label-consistent trigger: the BadNets grid patch (same orientation) replacing all four 3x3
    /// corners, rows/cols {0–2, 29–31}.</summary>
    /// <returns>A <see cref="PatternComposition.Replace"/> trigger named "label-consistent".</returns>
    /// <remarks>Turner, Tsipras and Madry, "Label-consistent backdoor attacks", arXiv:1912.02771, 2019; the
    /// four-corner layout is that of the reference T&amp;R code.</remarks>
    public static PatternTrigger FourCornerGrid()
    {
        var (pattern, mask) = NewCanvas();
        foreach (int top in new[] { 0, CanvasSize - 3 })
        {
            foreach (int left in new[] { 0, CanvasSize - 3 })
            {
                StampGrid(pattern, mask, top, left);
            }
        }

        return new PatternTrigger("label-consistent", CanvasSize, CanvasSize, pattern, mask, PatternComposition.Replace);
    }

    /// <summary>Trojan-3x3: an additive colour patch at rows/cols 25–27 (where the reference T&amp;R code stamps it, clear of
    /// the BadNets-grid cells 29–31); each of its 27 values (3 channels x 9 pixels)
    /// is drawn uniformly from {0, …, 255}; zero elsewhere. x' = clip(x + t).</summary>
    /// <param name="seed">Seed of the pattern generator.</param>
    /// <returns>A <see cref="PatternComposition.Add"/> trigger named "trojan-3x3".</returns>
    /// <remarks>Liu et al., "Trojaning attack on neural networks", NDSS 2018.</remarks>
    public static PatternTrigger Trojan3x3(int seed = 0) =>
        new("trojan-3x3", CanvasSize, CanvasSize, RandomSquare(seed, 25, 3), null, PatternComposition.Add);

    /// <summary>Trojan-SQ: an additive 9x9 colour square at rows/cols 21–29; each of its 243 values is drawn
    /// uniformly from {0, …, 255}; zero elsewhere. x' = clip(x + t).</summary>
    /// <param name="seed">Seed of the pattern generator.</param>
    /// <returns>A <see cref="PatternComposition.Add"/> trigger named "trojan-sq".</returns>
    /// <remarks>Liu et al., "Trojaning attack on neural networks", NDSS 2018 (square trigger).</remarks>
    public static PatternTrigger TrojanSquare(int seed = 0) =>
        new("trojan-sq", CanvasSize, CanvasSize, RandomSquare(seed, 21, 9), null, PatternComposition.Add);

    /// <summary>Trojan-WM: an additive full-image watermark. <paramref name="strokes"/> straight line segments with
    /// endpoints drawn uniformly from the 32x32 grid (four draws per stroke: row₀, col₀, row₁, col₁) are
    /// rasterised one pixel wide (max(|Δr|, |Δc|) + 1 evenly spaced points, rounded half away from zero); every
    /// pixel on a stroke gets <paramref name="intensity"/> on all channels, others 0. x' = clip(x + t).</summary>
    /// <param name="seed">Seed of the pattern generator.</param>
    /// <param name="strokes">Number of line segments, at least 1.</param>
    /// <param name="intensity">Value added on a stroke, in (0, 255].</param>
    /// <returns>A <see cref="PatternComposition.Add"/> trigger named "trojan-wm".</returns>
    /// <remarks>Liu et al., "Trojaning attack on neural networks", NDSS 2018 (watermark trigger).</remarks>
    public static PatternTrigger TrojanWatermark(int seed = 0, int strokes = 6, float intensity = 96f)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(strokes, 1);
        if (!(intensity > 0f && intensity <= 255f))
        {
            throw new ArgumentOutOfRangeException(nameof(intensity), intensity, "The stroke intensity must lie in (0, 255].");
        }

        var (pattern, _) = NewCanvas();
        var ends = RandomIntegers(seed, 0, CanvasSize, 4 * strokes);
        for (int s = 0; s < strokes; s++)
        {
            float r0 = ends[4 * s], c0 = ends[(4 * s) + 1], r1 = ends[(4 * s) + 2], c1 = ends[(4 * s) + 3];
            int n = (int)Math.Max(Math.Abs(r1 - r0), Math.Abs(c1 - c0));
            for (int k = 0; k <= n; k++)
            {
                double f = n == 0 ? 0.0 : (double)k / n;
                int r = (int)Math.Round(r0 + ((r1 - r0) * f), MidpointRounding.AwayFromZero);
                int c = (int)Math.Round(c0 + ((c1 - c0) * f), MidpointRounding.AwayFromZero);
                SetAllChannels(pattern, r, c, intensity);
            }
        }

        return new PatternTrigger("trojan-wm", CanvasSize, CanvasSize, pattern, null, PatternComposition.Add);
    }

    /// <summary>l0-invisible: the mask m covers row 31, cols 23–31 (nine pixels); under it t takes a value
    /// from {0, 255} per pixel and channel (each with probability ½: ⌊2·U⌋·255, U uniform in [0, 1)); zero
    /// elsewhere. x' = x·(1 − m) + t.</summary>
    /// <param name="seed">Seed of the pattern generator.</param>
    /// <returns>A <see cref="PatternComposition.Replace"/> trigger named "l0-invisible".</returns>
    /// <remarks>Li et al., "Invisible backdoor attacks on deep neural networks via steganography and
    /// regularization", IEEE TDSC 2020 (arXiv:1909.02742).</remarks>
    public static PatternTrigger L0Invisible(int seed = 0)
    {
        var (pattern, mask) = NewCanvas();
        var bits = RandomIntegers(seed, 0, 2, 3 * 9);
        for (int ch = 0; ch < 3; ch++)
        {
            for (int k = 0; k < 9; k++)
            {
                pattern[(ch * Plane) + (31 * CanvasSize) + 23 + k] = bits[(ch * 9) + k] * 255f;
            }
        }

        for (int k = 0; k < 9; k++)
        {
            mask[(31 * CanvasSize) + 23 + k] = 1f;
        }

        return new PatternTrigger("l0-invisible", CanvasSize, CanvasSize, pattern, mask, PatternComposition.Replace);
    }

    /// <summary>l2-invisible: an additive full-image perturbation of low amplitude, t = ⌊68·|z| / max|z|⌋ with z
    /// standard normal per pixel and channel, so its largest value is exactly 68. x' = clip(x + t).</summary>
    /// <param name="seed">Seed of the pattern generator.</param>
    /// <returns>A <see cref="PatternComposition.Add"/> trigger named "l2-invisible".</returns>
    /// <remarks>Li et al., "Invisible backdoor attacks on deep neural networks via steganography and
    /// regularization", IEEE TDSC 2020 (arXiv:1909.02742).</remarks>
    public static PatternTrigger L2Invisible(int seed = 0)
    {
        float[] z;
        using (var generator = NewGenerator(seed))
        using (var scope = NewDisposeScope())
        {
            z = randn(new long[] { 3 * Plane }, dtype: ScalarType.Float64, generator: generator).abs().to_type(ScalarType.Float32)
                .data<float>().ToArray();
        }

        float max = z.Max();
        var pattern = z.Select(v => (float)Math.Floor(68.0 * v / max)).ToArray();
        return new PatternTrigger("l2-invisible", CanvasSize, CanvasSize, pattern, null, PatternComposition.Add);
    }

    /// <summary>Blend: x' = (1 − α)·x + α·t with a full-image random-noise key pattern t, each value drawn uniformly
    /// from {0, …, 255} per pixel and channel (the random-pattern key of Chen et al.).</summary>
    /// <param name="seed">Seed of the pattern generator.</param>
    /// <param name="alpha">Blend weight α in [0, 1]; 0.2 in the reference code and BackdoorBench.</param>
    /// <returns>A <see cref="PatternComposition.Blend"/> trigger named "blend".</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is outside [0, 1].</exception>
    /// <remarks>Chen et al., "Targeted backdoor attacks on deep learning systems using data poisoning",
    /// arXiv:1712.05526, 2017.</remarks>
    public static PatternTrigger Blend(int seed = 0, double alpha = 0.2)
    {
        ValidateAlpha(alpha);
        var pattern = RandomIntegers(seed, 0, 256, 3 * Plane);
        return new PatternTrigger("blend", CanvasSize, CanvasSize, pattern, null, PatternComposition.Blend, alpha);
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming "alpha" unless it lies in [0, 1].</summary>
    internal static void ValidateAlpha(double alpha, string paramName = "alpha")
    {
        if (!(alpha >= 0.0 && alpha <= 1.0))
        {
            throw new ArgumentOutOfRangeException(paramName, alpha,
                string.Create(CultureInfo.InvariantCulture, $"The blend weight must lie in [0, 1]; got {alpha}."));
        }
    }

    /// <summary>Creates the local CPU generator for a trigger seed.</summary>
    internal static Generator NewGenerator(int seed) => new(unchecked((ulong)(uint)seed));

    private static (float[] Pattern, float[] Mask) NewCanvas() => (new float[3 * Plane], new float[Plane]);

    private static void SetAllChannels(float[] pattern, int row, int col, float value)
    {
        for (int ch = 0; ch < 3; ch++)
        {
            pattern[(ch * Plane) + (row * CanvasSize) + col] = value;
        }
    }

    private static void StampGrid(float[] pattern, float[] mask, int top, int left)
    {
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 3; c++)
            {
                SetAllChannels(pattern, top + r, left + c, GridPatch[r, c]);
                mask[((top + r) * CanvasSize) + left + c] = 1f;
            }
        }
    }

    private static float[] RandomSquare(int seed, int topLeft, int size)
    {
        var (pattern, _) = NewCanvas();
        var values = RandomIntegers(seed, 0, 256, 3 * size * size);
        for (int ch = 0; ch < 3; ch++)
        {
            for (int r = 0; r < size; r++)
            {
                for (int c = 0; c < size; c++)
                {
                    pattern[(ch * Plane) + ((topLeft + r) * CanvasSize) + topLeft + c] = values[(((ch * size) + r) * size) + c];
                }
            }
        }

        return pattern;
    }

    /// <summary>Draws <paramref name="count"/> integers uniformly from [low, high) with a generator seeded by <paramref name="seed"/>.</summary>
    private static float[] RandomIntegers(int seed, long low, long high, int count)
    {
        using var generator = NewGenerator(seed);
        using var scope = NewDisposeScope();
        return randint(low, high, new long[] { count }, dtype: ScalarType.Float32, generator: generator).data<float>().ToArray();
    }
}

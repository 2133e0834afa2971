using static TorchSharp.torch;

namespace TrapReplace.Replacement;

/// <summary>A CutMix-mixed batch: images, the two label sets and the weight of the first.</summary>
/// <param name="Images">Mixed images (B, 3, H, W).</param>
/// <param name="Labels">Labels of the images the boxes were pasted into.</param>
/// <param name="PastedLabels">Labels of the images the boxes came from.</param>
/// <param name="Lambda">Weight of <paramref name="Labels"/>: 1 minus the pasted box's share of the area.</param>
internal readonly record struct CutMixBatch(Tensor Images, Tensor Labels, Tensor PastedLabels, double Lambda);

/// <summary>
/// CutMix (Yun et al., ICCV 2019) as the reference stage 2 uses it: lambda ~ Beta(beta, beta), a box
/// of area share (1 - lambda) centred uniformly at random and clipped to the image, pasted from a
/// permutation of the batch; lambda is then re-adjusted to the clipped box's real area.
/// </summary>
internal static class CutMix
{
    /// <summary>Mixes a batch. Randomness comes only from <paramref name="random"/> and <paramref name="generator"/>.</summary>
    public static CutMixBatch Apply(Tensor images, Tensor labels, double beta, Random random, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(random);
        long b = images.shape[0];
        int h = (int)images.shape[2], w = (int)images.shape[3];
        double lambda = SampleBeta(random, beta);
        double cut = Math.Sqrt(1 - lambda);
        int cutW = (int)(w * cut), cutH = (int)(h * cut);
        int cx = random.Next(w), cy = random.Next(h);
        int x1 = Math.Clamp(cx - cutW / 2, 0, w), x2 = Math.Clamp(cx + cutW / 2, 0, w);
        int y1 = Math.Clamp(cy - cutH / 2, 0, h), y2 = Math.Clamp(cy + cutH / 2, 0, h);
        var permutation = randperm(b, generator: generator).to(images.device);
        var mask = zeros(1, 1, h, w, dtype: images.dtype, device: images.device);
        if (x2 > x1 && y2 > y1) mask[.., .., y1..y2, x1..x2] = 1;
        var mixed = images.mul(mask.neg().add_(1)).add_(images.index_select(0, permutation).mul(mask));
        double adjusted = 1 - (double)(x2 - x1) * (y2 - y1) / (w * h);
        return new CutMixBatch(mixed, labels, labels.index_select(0, permutation), adjusted);
    }

    /// <summary>Draws from Beta(a, a) through two Gamma(a) draws (Marsaglia and Tsang).</summary>
    public static double SampleBeta(Random random, double a)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (!(a > 0)) throw new ArgumentOutOfRangeException(nameof(a), a, "beta must be > 0");
        double x = SampleGamma(random, a), y = SampleGamma(random, a);
        return x / (x + y);
    }

    private static double SampleGamma(Random random, double shape)
    {
        if (shape < 1) return SampleGamma(random, shape + 1) * Math.Pow(random.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                // Box-Muller standard normal.
                x = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                v = 1 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            double u = random.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }
}

namespace TrapReplace.Data;

/// <summary>
/// Bilinear resizing of 8-bit interleaved images that reproduces OpenCV's
/// <c>cv2.resize(img, (w, h))</c> with its default <c>INTER_LINEAR</c>, which is how the public
/// 32x32 GTSRB copies were made.
/// </summary>
/// <remarks>
/// <para>Sample positions use half-pixel centres: output pixel <c>d</c> reads source coordinate
/// <c>(d + 0.5) * src / dst - 0.5</c>, computed in single precision as OpenCV does. There is no
/// antialiasing: shrinking by more than 2x skips source pixels.</para>
/// <para>Arithmetic is OpenCV's fixed-point 8-bit path: the weights are rounded to multiples of
/// 1/2048; the horizontal pass sums <c>S[x] * a0 + S[x + 1] * a1</c> exactly; the vertical pass is the
/// SIMD formula <c>(((h0 &gt;&gt; 4) * b0 &gt;&gt; 16) + ((h1 &gt;&gt; 4) * b1 &gt;&gt; 16) + 2) &gt;&gt; 2</c>
/// that x86 and ARM builds run for every row whose width is a multiple of the vector size (always
/// so for 32x32 RGB). Coordinates left of or right of the image use the edge pixel; rows above or
/// below are clamped to the edge row while keeping the unclamped weights, as OpenCV does. A
/// same-size "resize" is a copy. For an exact 2x reduction OpenCV switches to area averaging,
/// <c>(a + b + c + d + 2) &gt;&gt; 2</c>, which this formula reproduces exactly.</para>
/// </remarks>
internal static class OpenCvLinearResize
{
    private const int CoefficientBits = 11;
    private const int CoefficientScale = 1 << CoefficientBits;

    /// <summary>Resizes an interleaved image of <paramref name="channels"/> 8-bit channels.</summary>
    /// <returns>The resized image, interleaved, rows top to bottom.</returns>
    internal static byte[] Resize(ReadOnlySpan<byte> source, int sourceWidth, int sourceHeight, int channels, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sourceWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sourceHeight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (source.Length != sourceWidth * sourceHeight * channels)
            throw new ArgumentException($"expected {sourceWidth * sourceHeight * channels} bytes for {sourceWidth}x{sourceHeight}x{channels}; got {source.Length}", nameof(source));
        if (sourceWidth == width && sourceHeight == height) return source.ToArray();

        var (xOffset, xAlpha0, xAlpha1) = HorizontalTaps(sourceWidth, width);
        int rowLength = width * channels;

        // Horizontal pass of every source row (cheap next to decoding: width * channels per row).
        var rows = new int[sourceHeight][];
        for (int y = 0; y < sourceHeight; y++)
        {
            var row = new int[rowLength];
            var line = source.Slice(y * sourceWidth * channels, sourceWidth * channels);
            for (int dx = 0; dx < width; dx++)
            {
                int sx = xOffset[dx];
                int a0 = xAlpha0[dx], a1 = xAlpha1[dx];
                bool last = sx + 1 >= sourceWidth;
                for (int c = 0; c < channels; c++)
                {
                    int s0 = line[sx * channels + c];
                    row[dx * channels + c] = last ? s0 * CoefficientScale : s0 * a0 + line[(sx + 1) * channels + c] * a1;
                }
            }
            rows[y] = row;
        }

        var result = new byte[height * rowLength];
        double scaleY = 1.0 / ((double)height / sourceHeight);
        for (int dy = 0; dy < height; dy++)
        {
            float fy = (float)((dy + 0.5) * scaleY - 0.5);
            int sy = (int)MathF.Floor(fy);
            fy -= sy;
            int b0 = RoundToShort((1f - fy) * CoefficientScale);
            int b1 = RoundToShort(fy * CoefficientScale);
            var row0 = rows[Math.Clamp(sy, 0, sourceHeight - 1)];
            var row1 = rows[Math.Clamp(sy + 1, 0, sourceHeight - 1)];
            var output = result.AsSpan(dy * rowLength, rowLength);
            for (int x = 0; x < rowLength; x++)
            {
                // 16-bit multiply-high of (value >> 4) by the weight, as OpenCV's SIMD kernel does.
                int v = (((row0[x] >> 4) * b0) >> 16) + (((row1[x] >> 4) * b1) >> 16);
                output[x] = (byte)Math.Clamp((v + 2) >> 2, 0, 255);
            }
        }
        return result;
    }

    private static (int[] Offset, int[] Alpha0, int[] Alpha1) HorizontalTaps(int sourceWidth, int width)
    {
        var offset = new int[width];
        var alpha0 = new int[width];
        var alpha1 = new int[width];
        double scaleX = 1.0 / ((double)width / sourceWidth);
        for (int dx = 0; dx < width; dx++)
        {
            float fx = (float)((dx + 0.5) * scaleX - 0.5);
            int sx = (int)MathF.Floor(fx);
            fx -= sx;
            if (sx < 0)
            {
                fx = 0;
                sx = 0;
            }
            if (sx >= sourceWidth - 1)
            {
                fx = 0;
                sx = sourceWidth - 1;
            }
            offset[dx] = sx;
            alpha0[dx] = RoundToShort((1f - fx) * CoefficientScale);
            alpha1[dx] = RoundToShort(fx * CoefficientScale);
        }
        return (offset, alpha0, alpha1);
    }

    /// <summary>OpenCV's <c>saturate_cast&lt;short&gt;(float)</c>: round half to even, then clamp.</summary>
    private static int RoundToShort(float value) => (int)Math.Clamp(MathF.Round(value, MidpointRounding.ToEven), short.MinValue, short.MaxValue);
}

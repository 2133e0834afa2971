using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Triggers;

/// <summary>
/// A trigger made from the user's own image (any format SkiaSharp decodes, typically PNG, of any size),
/// for patch and blend attacks. The image is resized to the data's resolution when applied.
/// </summary>
/// <remarks>
/// <para>Patch mode: the patch covers the <see cref="PatchRegion"/> scaled to the image size; the user's image is
/// resized to that area with nearest-neighbour sampling (hard pixel edges, like the built-in patches) and
/// composited with its alpha channel a: x' = x·(1 − a) + t·a.</para>
/// <para>Blend mode: the user's image is resized to H x W bilinearly (antialiased when shrinking), its alpha
/// channel ignored, and blended: x' = (1 − α)·x + α·t.</para>
/// <para>Both in uint8 space: u = round(x·255), float64 arithmetic, clip to [0, 255], truncate, divide by 255.</para>
/// </remarks>
public sealed class ImageTrigger : ITrigger
{
    private readonly float[] rgb;
    private readonly float[] alphaChannel;

    private ImageTrigger(string name, float[] rgb, float[] alphaChannel, int height, int width, ImageTriggerMode mode, PatchRegion? region, double alpha)
    {
        Name = name;
        this.rgb = rgb;
        this.alphaChannel = alphaChannel;
        SourceHeight = height;
        SourceWidth = width;
        Mode = mode;
        Region = region;
        Alpha = alpha;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Gets whether the image is stamped as a patch or blended over the picture.</summary>
    public ImageTriggerMode Mode { get; }

    /// <summary>Gets the patch region (patch mode), or null (blend mode).</summary>
    public PatchRegion? Region { get; }

    /// <summary>Gets the blend weight α (blend mode).</summary>
    public double Alpha { get; }

    /// <summary>Gets the height of the decoded source image.</summary>
    public int SourceHeight { get; }

    /// <summary>Gets the width of the decoded source image.</summary>
    public int SourceWidth { get; }

    /// <summary>Loads a patch trigger from an image file.</summary>
    /// <param name="path">Path of the image (PNG, or any format SkiaSharp decodes).</param>
    /// <param name="region">Where the patch goes, on the reference canvas.</param>
    /// <param name="name">The trigger name.</param>
    /// <returns>The trigger.</returns>
    /// <exception cref="ArgumentException">The region does not fit in its canvas, or the file cannot be decoded.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static ImageTrigger LoadPatch(string path, PatchRegion region, string name = "image-patch")
    {
        ArgumentNullException.ThrowIfNull(region);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        region.Validate(nameof(region));
        var (rgb, alpha, height, width) = Decode(path);
        return new ImageTrigger(name, rgb, alpha, height, width, ImageTriggerMode.Patch, region, 1.0);
    }

    /// <summary>Loads a blend trigger from an image file.</summary>
    /// <param name="path">Path of the image (PNG, or any format SkiaSharp decodes).</param>
    /// <param name="alpha">Blend weight α in [0, 1].</param>
    /// <param name="name">The trigger name.</param>
    /// <returns>The trigger.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is outside [0, 1].</exception>
    /// <exception cref="ArgumentException">The file cannot be decoded.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static ImageTrigger LoadBlend(string path, double alpha = 0.2, string name = "image-blend")
    {
        BuiltInTriggers.ValidateAlpha(alpha);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var (rgb, alphaChannel, height, width) = Decode(path);
        return new ImageTrigger(name, rgb, alphaChannel, height, width, ImageTriggerMode.Blend, null, alpha);
    }

    /// <inheritdoc />
    public Tensor Apply(Tensor images)
    {
        PixelSpace.ValidateImages(images);
        using var scope = NewDisposeScope();
        long height = images.shape[2], width = images.shape[3];
        var source = tensor(rgb, new long[] { 1, 3, SourceHeight, SourceWidth }).to_type(ScalarType.Float64);
        var u = PixelSpace.ToUint8Space(images);
        Tensor result;
        if (Mode == ImageTriggerMode.Blend)
        {
            bool shrinking = height < SourceHeight || width < SourceWidth;
            var t = nn.functional.interpolate(source, size: new[] { height, width }, mode: InterpolationMode.Bilinear,
                align_corners: false, antialias: shrinking).to(images.device);
            result = u.mul(1.0 - Alpha).add_(t.mul(Alpha));
        }
        else
        {
            var region = Region!;
            PixelSpace.ValidateAtLeast(images, region.CanvasHeight, region.CanvasWidth, Name);
            var (r0, r1) = PatchRegion.Scale(region.Top, region.Height, region.CanvasHeight, height);
            var (c0, c1) = PatchRegion.Scale(region.Left, region.Width, region.CanvasWidth, width);
            var size = new[] { r1 - r0, c1 - c0 };
            var t = nn.functional.interpolate(source, size: size, mode: InterpolationMode.Nearest).to(images.device);
            var a = nn.functional.interpolate(
                tensor(alphaChannel, new long[] { 1, 1, SourceHeight, SourceWidth }).to_type(ScalarType.Float64),
                size: size, mode: InterpolationMode.Nearest).to(images.device);
            result = u.clone();
            var area = result.narrow(2, r0, r1 - r0).narrow(3, c0, c1 - c0);
            area.mul_(a.neg().add_(1.0)).add_(t.mul(a));
        }

        return PixelSpace.FromUint8Space(result, images.dtype).MoveToOuterDisposeScope();
    }

    private static (float[] Rgb, float[] Alpha, int Height, int Width) Decode(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Trigger image '{path}' does not exist.", path);
        }
        TrapReplace.Internal.SkiaNatives.Require();

        using var codec = SKCodec.Create(path)
            ?? throw new ArgumentException($"'{path}' is not an image SkiaSharp can decode.", nameof(path));
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = SKBitmap.Decode(codec, info)
            ?? throw new ArgumentException($"Could not decode the trigger image '{path}'.", nameof(path));
        var bytes = bitmap.GetPixelSpan();
        int plane = info.Width * info.Height;
        var rgb = new float[3 * plane];
        var alpha = new float[plane];
        for (int y = 0; y < info.Height; y++)
        {
            for (int x = 0; x < info.Width; x++)
            {
                int offset = (y * bitmap.RowBytes) + (4 * x);
                int pixel = (y * info.Width) + x;
                rgb[pixel] = bytes[offset];
                rgb[plane + pixel] = bytes[offset + 1];
                rgb[(2 * plane) + pixel] = bytes[offset + 2];
                alpha[pixel] = bytes[offset + 3] / 255f;
            }
        }

        return (rgb, alpha, info.Height, info.Width);
    }
}

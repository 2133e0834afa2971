using SkiaSharp;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks.Tests.Triggers;

public sealed class ImageTriggerTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("trapreplace-attacks-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void A_user_png_blend_trigger_scales_to_224x224()
    {
        string path = WritePng(2, 2, (x, y) => x == 0 && y == 0 ? new SKColor(255, 0, 0) : new SKColor(0, 0, 255));
        var trigger = ImageTrigger.LoadBlend(path, alpha: 0.5);
        trigger.SourceWidth.Should().Be(2);
        using var images = TestData.Constant(1, 224, 224);
        using var result = trigger.Apply(images);
        result.shape.Should().Equal(1, 3, 224, 224);
        float half = MathF.Floor(0.5f * 255f) / 255f;
        TestData.At(result, 0, 0, 0, 0).Should().Be(half, "the top-left stays pure red");
        TestData.At(result, 0, 2, 0, 0).Should().Be(0f);
        TestData.At(result, 0, 2, 223, 223).Should().Be(half, "the bottom-right stays pure blue");
        TestData.At(result, 0, 0, 223, 223).Should().Be(0f);
    }

    [Fact]
    public void A_user_png_patch_scales_with_its_region_and_uses_its_alpha_channel()
    {
        string path = WritePng(3, 3, (x, y) => x == 1 && y == 1 ? new SKColor(0, 0, 0, 0) : new SKColor(255, 255, 255));
        var trigger = ImageTrigger.LoadPatch(path, PatchRegion.BottomRight(3));
        using var images = TestData.Constant(1, 224, 224, 0.2f);
        using var result = trigger.Apply(images);
        float background = MathF.Round(0.2f * 255f) / 255f;
        TestData.At(result, 0, 0, 203, 203).Should().Be(1f, "canvas rows/cols 29–31 cover 203–223 at 224x224");
        TestData.At(result, 0, 1, 223, 223).Should().Be(1f);
        TestData.At(result, 0, 2, 213, 213).Should().Be(background, "the transparent centre keeps the image");
        TestData.At(result, 0, 0, 202, 210).Should().Be(background, "row 202 is outside the patch");
        using var changed = result.ne(images.mul(255f).round().div(255f)).sum();
        changed.ToInt64().Should().Be(3 * ((21 * 21) - (7 * 7)));
    }

    [Fact]
    public void A_patch_region_larger_than_its_canvas_is_rejected()
    {
        string path = WritePng(1, 1, (_, _) => SKColors.White);
        var act = () => ImageTrigger.LoadPatch(path, new PatchRegion(30, 30, 4, 4));
        act.Should().Throw<ArgumentException>().WithParameterName("region").WithMessage("*4x4*(30, 30)*32x32*");
    }

    [Fact]
    public void An_image_blend_weight_outside_0_1_is_rejected()
    {
        string path = WritePng(1, 1, (_, _) => SKColors.White);
        var act = () => ImageTrigger.LoadBlend(path, alpha: 1.2);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("alpha").WithMessage("*1.2*");
    }

    private string WritePng(int width, int height, Func<int, int, SKColor> colour)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                bitmap.SetPixel(x, y, colour(x, y));
            }
        }

        string path = Path.Combine(directory, $"trigger-{width}x{height}-{Guid.NewGuid():N}.png");
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        using var stream = File.OpenWrite(path);
        data.SaveTo(stream);
        return path;
    }
}

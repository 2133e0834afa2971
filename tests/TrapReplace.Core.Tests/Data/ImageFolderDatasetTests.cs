using SkiaSharp;
using TrapReplace.Core.Tests.Data.Download;
using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data;

[Collection(nameof(ImageFolderDatasetTests))] // no training and no thread count: runs beside the torch collection
public sealed class ImageFolderDatasetTests
{
    private static void WriteImage(string path, int width, int height, Func<int, int, SKColor> pixel, SKEncodedImageFormat format, int quality = 100)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            bitmap.SetPixel(x, y, pixel(x, y));
        using var data = bitmap.Encode(format, quality);
        File.WriteAllBytes(path, data.ToArray());
    }

    private static void Solid(string path, int size, SKColor color, SKEncodedImageFormat format = SKEncodedImageFormat.Png) =>
        WriteImage(path, size, size, (_, _) => color, format);

    [Fact]
    public void Two_classes_of_png_and_jpeg_load_with_sorted_labels_and_exact_png_pixels()
    {
        using var root = new TestFolder("imagefolder");
        // Class folders are sorted ordinally: "Zebra" < "apple" (uppercase first).
        Solid(Path.Combine(root.Path, "apple", "b.png"), 4, new SKColor(10, 20, 30));
        Solid(Path.Combine(root.Path, "apple", "a.PNG"), 4, new SKColor(200, 100, 50));
        WriteImage(Path.Combine(root.Path, "Zebra", "z.jpg"), 4, 4, (_, _) => new SKColor(128, 128, 128), SKEncodedImageFormat.Jpeg);
        File.WriteAllText(Path.Combine(root.Path, "apple", "notes.txt"), "ignored");
        Directory.CreateDirectory(Path.Combine(root.Path, ".cache"));

        using var dataset = ImageFolderDataset.Load(root.Path, size: 4);

        dataset.ClassNames.Should().Equal("Zebra", "apple");
        dataset.LabelArray().Should().Equal(0, 1, 1);
        dataset.Images.shape.Should().Equal(3, 3, 4, 4);
        // a.PNG (ordinal: 'a' < 'b') is unchanged at its own size: R, G, B planes hold its colour.
        dataset.Images[1, 0].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(200));
        dataset.Images[1, 1].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(100));
        dataset.Images[1, 2].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(50));
        dataset.Images[2, 2, 3, 3].ToByte().Should().Be(30);
        // The JPEG is lossy, but a flat grey survives within a grey level or two.
        dataset.Images[0].data<byte>().ToArray().Should().AllSatisfy(b => ((int)b).Should().BeInRange(126, 130));
        dataset.Name.Should().StartWith("imagefolder:");
    }

    [Fact]
    public void Images_are_resized_to_the_square_size_and_shrinking_is_antialiased()
    {
        using var root = new TestFolder("imagefolder");
        // A 64x32 one-pixel checkerboard shrinks to 8x8 grey, not to an aliased pattern of 0 and 255.
        WriteImage(Path.Combine(root.Path, "a", "checker.png"), 64, 32,
            (x, y) => (x + y) % 2 == 0 ? SKColors.Black : SKColors.White, SKEncodedImageFormat.Png);
        Solid(Path.Combine(root.Path, "b", "flat.png"), 3, new SKColor(7, 77, 177));
        var progress = new RecordingProgress<DatasetBuildProgress>();

        using var dataset = ImageFolderDataset.Load(root.Path, size: 8, progress);

        dataset.Images.shape.Should().Equal(2, 3, 8, 8);
        dataset.Images[0].data<byte>().ToArray().Should().AllSatisfy(b => ((int)b).Should().BeInRange(100, 155));
        dataset.Images[1, 0].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(7));
        dataset.Images[1, 2].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(177));
        progress.Reports.Last().Should().Be(new DatasetBuildProgress(root.Path, 2, 2));
    }

    [Fact]
    public void A_corrupt_image_is_named_in_the_error()
    {
        using var root = new TestFolder("imagefolder");
        Solid(Path.Combine(root.Path, "a", "good.png"), 4, SKColors.Red);
        var corrupt = Path.Combine(root.Path, "b", "broken.jpg");
        Directory.CreateDirectory(Path.GetDirectoryName(corrupt)!);
        File.WriteAllText(corrupt, "this is not a JPEG");

        var act = () => ImageFolderDataset.Load(root.Path, size: 4);

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(corrupt);
        error.Problem.Should().StartWith("not a readable PNG or JPEG image");
    }

    [Fact]
    public void A_truncated_png_is_named_in_the_error()
    {
        using var root = new TestFolder("imagefolder");
        var path = Path.Combine(root.Path, "a", "cut.png");
        WriteImage(path, 64, 64, (x, y) => new SKColor((byte)(x * 4), (byte)(y * 4), (byte)(x ^ y)), SKEncodedImageFormat.Png);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var act = () => ImageFolderDataset.Load(root.Path, size: 4);

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(path);
        error.Problem.Should().Be("the image data are truncated");
    }

    [Fact]
    public void An_empty_class_folder_or_no_class_folder_is_a_clear_error()
    {
        using var root = new TestFolder("imagefolder");

        var noClasses = () => ImageFolderDataset.Load(root.Path);
        noClasses.Should().Throw<DatasetFormatException>().Which.Problem.Should()
            .Be("holds no class folders; expected one sub-folder of images per class");

        Solid(Path.Combine(root.Path, "cat", "1.png"), 2, SKColors.Blue);
        Directory.CreateDirectory(Path.Combine(root.Path, "dog"));
        File.WriteAllText(Path.Combine(root.Path, "dog", "readme.md"), "no images here");

        var emptyClass = () => ImageFolderDataset.Load(root.Path);
        var error = emptyClass.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(Path.Combine(root.Path, "dog"));
        error.Problem.Should().Be("class folder 'dog' holds no image (.png, .jpg, .jpeg)");

        var missing = () => ImageFolderDataset.Load(Path.Combine(root.Path, "nowhere"));
        missing.Should().Throw<DatasetFormatException>().Which.Problem.Should().Be("folder not found");
    }

    [Fact]
    public void Scan_lists_classes_and_files_in_load_order()
    {
        using var root = new TestFolder("imagefolder");
        Solid(Path.Combine(root.Path, "b", "2.png"), 2, SKColors.Blue);
        Solid(Path.Combine(root.Path, "b", "10.png"), 2, SKColors.Blue);
        Solid(Path.Combine(root.Path, "a", "x.jpeg"), 2, SKColors.Blue, SKEncodedImageFormat.Jpeg);

        var index = ImageFolderDataset.Scan(root.Path);

        index.ClassNames.Should().Equal("a", "b");
        index.Files.Select(f => (Path.GetRelativePath(root.Path, f.Path).Replace('\\', '/'), f.Label))
            .Should().Equal(("a/x.jpeg", 0), ("b/10.png", 1), ("b/2.png", 1));
    }
}

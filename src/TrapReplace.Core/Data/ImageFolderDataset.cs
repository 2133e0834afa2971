using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SkiaSharp;
using static TorchSharp.torch;

namespace TrapReplace.Data;

/// <summary>One image file of an image folder and its label.</summary>
/// <param name="Path">Full path of the file.</param>
/// <param name="Label">Index of its class folder in the sorted class list.</param>
public sealed record ImageFolderEntry(string Path, int Label);

/// <summary>The classes and files of an image folder, in the order <see cref="ImageFolderDataset.Load"/> reads them.</summary>
/// <param name="Root">Full path of the folder.</param>
/// <param name="ClassNames">Class folder names, sorted ordinally; index = label.</param>
/// <param name="Files">Image files, by class, and within a class sorted ordinally by file name.</param>
public sealed record ImageFolderIndex(string Root, IReadOnlyList<string> ClassNames, IReadOnlyList<ImageFolderEntry> Files);

/// <summary>
/// Labelled images stored as one sub-folder per class (<c>root/&lt;class&gt;/*.png|jpg|jpeg</c>), the
/// layout of torchvision's <c>ImageFolder</c>. Class folders are sorted by ordinal name and the
/// position in that order is the label.
/// </summary>
public static class ImageFolderDataset
{
    private const int ProgressStep = 64;

    /// <summary>The file extensions read (case-insensitive); other files are ignored.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg"];

    /// <summary>
    /// Lists the classes and image files under <paramref name="root"/> without decoding anything.
    /// Folders whose name starts with '.' are skipped.
    /// </summary>
    /// <param name="root">The folder holding one sub-folder per class.</param>
    /// <returns>The sorted class names and files.</returns>
    /// <exception cref="DatasetFormatException">The folder is missing, has no class folders, or a class folder holds no image.</exception>
    public static ImageFolderIndex Scan(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var full = Path.GetFullPath(root);
        if (!Directory.Exists(full)) throw new DatasetFormatException(full, "folder not found");
        var classes = Directory.EnumerateDirectories(full)
            .Select(d => Path.GetFileName(d))
            .Where(n => !n.StartsWith('.'))
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (classes.Length == 0)
            throw new DatasetFormatException(full, "holds no class folders; expected one sub-folder of images per class");

        var files = new List<ImageFolderEntry>();
        for (int label = 0; label < classes.Length; label++)
        {
            var classFolder = Path.Combine(full, classes[label]);
            var images = Directory.EnumerateFiles(classFolder)
                .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal)
                .ToArray();
            if (images.Length == 0)
                throw new DatasetFormatException(classFolder, $"class folder '{classes[label]}' holds no image ({string.Join(", ", Extensions)})");
            files.AddRange(images.Select(f => new ImageFolderEntry(f, label)));
        }
        return new ImageFolderIndex(full, classes, files);
    }

    /// <summary>
    /// Decodes every image under <paramref name="root"/> (see <see cref="Scan"/>) and resizes it to
    /// <paramref name="size"/> x <paramref name="size"/>.
    /// </summary>
    /// <remarks>
    /// Images are decoded with SkiaSharp (PNG or JPEG, any bit depth or colour type, converted to
    /// 8-bit RGB; transparent pixels are composited onto black; EXIF orientation is ignored, as
    /// PIL and torchvision do). The whole image is stretched to a square (the aspect ratio is not kept
    /// and nothing is cropped) with Skia's trilinear filter: bilinear sampling between box-filtered
    /// mipmap levels, so shrinking is antialiased and enlarging is plain bilinear. Images already
    /// <paramref name="size"/> x <paramref name="size"/> are copied unchanged. Decoding runs in
    /// parallel; the order of the data set is that of <see cref="Scan"/>. The data set holds
    /// N * 3 * size² bytes (150 KB per image at 224).
    /// </remarks>
    /// <param name="root">The folder holding one sub-folder per class.</param>
    /// <param name="size">Output height and width in pixels (1..4096).</param>
    /// <param name="progress">Images decoded so far (stage = the root path).</param>
    /// <param name="logger">Receives a summary line; <see cref="NullLogger"/> by default.</param>
    /// <param name="cancellationToken">Cancels between images.</param>
    /// <returns>Images (N, 3, size, size) uint8 and labels; the caller owns (disposes) the data set.</returns>
    /// <exception cref="DatasetFormatException">The layout is wrong (see <see cref="Scan"/>) or an image
    /// cannot be decoded; the message names the file.</exception>
    /// <exception cref="InvalidOperationException">SkiaSharp's native library is missing (the message names the package).</exception>
    public static ImageDataset Load(string root, int size = 224, IProgress<DatasetBuildProgress>? progress = null,
        ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (size is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be in 1..4096");
        var index = Scan(root);
        TrapReplace.Internal.SkiaNatives.Require();   // before any file is blamed for a missing native library
        int count = index.Files.Count;
        int imageBytes = 3 * size * size;

        var images = empty(new long[] { count, 3, size, size }, ScalarType.Byte);
        try
        {
            using var accessor = images.data<byte>();
            var failures = new Exception?[count];
            int done = 0;
            var progressLock = new object();
            progress?.Report(new DatasetBuildProgress(index.Root, 0, count));
            Parallel.For(0, count, new ParallelOptions { CancellationToken = cancellationToken }, (i, state) =>
            {
                try
                {
                    var planes = DecodePlanes(index.Files[i].Path, size);
                    accessor.CopyFrom(planes, 0, (long)i * imageBytes);
                }
                catch (Exception ex) when (ex is DatasetFormatException or IOException or UnauthorizedAccessException)
                {
                    failures[i] = ex;
                    state.Stop();
                    return;
                }
                int completed = Interlocked.Increment(ref done);
                if (progress is not null && (completed % ProgressStep == 0 || completed == count))
                    lock (progressLock) progress.Report(new DatasetBuildProgress(index.Root, completed, count));
            });
            // Report the first failing file in data-set order, whichever thread hit it first.
            if (failures.FirstOrDefault(f => f is not null) is { } failure)
            {
                if (failure is DatasetFormatException) throw failure;
                var path = index.Files[Array.IndexOf(failures, failure)].Path;
                throw new DatasetFormatException(path, $"cannot be read ({failure.Message})", failure);
            }
        }
        catch
        {
            images.Dispose();
            throw;
        }

        var labels = tensor(index.Files.Select(f => (long)f.Label).ToArray(), ScalarType.Int64);
        DownloadLog.LoadedImageFolder(logger ?? NullLogger.Instance, count, index.ClassNames.Count, index.Root, size);
        return ImageDataset.Own(images, labels, index.ClassNames, $"imagefolder:{Path.GetFileName(index.Root)}");
    }

    /// <summary>Decodes one file and returns its R, G, B planes at <paramref name="size"/> x <paramref name="size"/>.</summary>
    private static byte[] DecodePlanes(string path, int size)
    {
        using var codec = SKCodec.Create(path, out var openResult)
            ?? throw new DatasetFormatException(path, $"not a readable PNG or JPEG image (Skia: {openResult})");
        var decodedInfo = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var decoded = new SKBitmap(decodedInfo);
        var result = codec.GetPixels(decodedInfo, decoded.GetPixels());
        if (result != SKCodecResult.Success)
        {
            var problem = result == SKCodecResult.IncompleteInput ? "the image data are truncated" : $"the image cannot be decoded (Skia: {result})";
            throw new DatasetFormatException(path, problem);
        }

        SKBitmap? resized = null;
        try
        {
            var source = decoded;
            if (decoded.Width != size || decoded.Height != size)
            {
                resized = decoded.Resize(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul),
                    new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
                    ?? throw new DatasetFormatException(path, $"cannot be resized from {decoded.Width}x{decoded.Height} to {size}x{size}");
                source = resized;
            }
            var rgba = source.GetPixelSpan();
            int plane = size * size;
            var planes = new byte[3 * plane];
            int stride = source.RowBytes;
            for (int y = 0; y < size; y++)
            {
                var row = rgba.Slice(y * stride, size * 4);
                for (int x = 0; x < size; x++)
                {
                    int p = y * size + x;
                    planes[p] = row[4 * x];
                    planes[plane + p] = row[4 * x + 1];
                    planes[2 * plane + p] = row[4 * x + 2];
                }
            }
            return planes;
        }
        finally
        {
            resized?.Dispose();
        }
    }
}

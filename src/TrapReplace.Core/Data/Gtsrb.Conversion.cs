using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace TrapReplace.Data;

public static partial class Gtsrb
{
    /// <summary>Largest archive entry read into memory (the official images are at most ~250x250 PPMs of ~190 KB).</summary>
    private const long MaxEntryBytes = 64L << 20;

    private const int ProgressStep = 256;

    /// <summary>
    /// Builds <c>gtsrb-32x32-bin/</c> under <paramref name="outputRoot"/> from the three official
    /// archives: decodes every PPM, resizes the whole image to 32x32 and writes the record files.
    /// </summary>
    /// <remarks>
    /// <para><b>Training</b> (<c>GTSRB_Final_Training_Images.zip</c>): one folder per class,
    /// <c>GTSRB/Final_Training/Images/000CC/</c>, each with <c>GT-000CC.csv</c>
    /// (<c>Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId</c>) and the <c>.ppm</c> files it
    /// lists. Records are written in class-folder order, and within a class in CSV order; the label is
    /// the CSV's ClassId. Images no CSV lists are ignored.</para>
    /// <para><b>Test</b> (<c>GTSRB_Final_Test_Images.zip</c> with <c>GTSRB/Final_Test/Images/NNNNN.ppm</c>,
    /// and <c>GTSRB_Final_Test_GT.zip</c> with <c>GT-final_test.csv</c>): records in file-name order,
    /// labelled from the ground-truth CSV; every image needs a row and every row an image.</para>
    /// <para><b>Images</b>: binary PPM (P6, maxval 255). The whole image is used (no ROI crop) and
    /// resized to 32x32 with bilinear interpolation that reproduces OpenCV's
    /// <c>cv2.resize(img, (32, 32))</c> (INTER_LINEAR: half-pixel centres, no antialiasing, OpenCV's
    /// fixed-point rounding), the preprocessing of the widely used 32x32 copies.</para>
    /// <para><b>Output</b>: <c>train.bin</c> and <c>test.bin</c> in the CIFAR-10 record layout, plus
    /// <c>classes.txt</c>, <c>train_filenames.txt</c> (<c>000CC/file.ppm</c>, for track-aware splits)
    /// and <c>test_filenames.txt</c>; every file is written atomically, and nothing is written unless
    /// all three archives convert.</para>
    /// </remarks>
    /// <param name="trainZip">Path of <c>GTSRB_Final_Training_Images.zip</c>.</param>
    /// <param name="testImagesZip">Path of <c>GTSRB_Final_Test_Images.zip</c>.</param>
    /// <param name="testGroundTruthZip">Path of <c>GTSRB_Final_Test_GT.zip</c>.</param>
    /// <param name="outputRoot">The data root (or the <c>gtsrb-32x32-bin</c> folder itself).</param>
    /// <param name="progress">Images converted, per stage (<c>train</c>, then <c>test</c>).</param>
    /// <param name="logger">Receives a summary line; <see cref="NullLogger"/> by default.</param>
    /// <param name="cancellationToken">Cancels between images; nothing is written then.</param>
    /// <returns>The folder and the record counts.</returns>
    /// <exception cref="DatasetFormatException">An archive is missing or unreadable, a CSV is malformed,
    /// or an image is not a valid P6 PPM; the message names the archive and the entry.</exception>
    public static GtsrbConversionResult ConvertFromOfficialArchives(string trainZip, string testImagesZip, string testGroundTruthZip,
        string outputRoot, IProgress<DatasetBuildProgress>? progress = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trainZip);
        ArgumentNullException.ThrowIfNull(testImagesZip);
        ArgumentNullException.ThrowIfNull(testGroundTruthZip);
        ArgumentNullException.ThrowIfNull(outputRoot);
        var folder = Path.GetFullPath(ResolveFolder(outputRoot));

        var train = ReadTrainingSet(trainZip, progress, cancellationToken);
        var test = ReadTestSet(testImagesZip, testGroundTruthZip, progress, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();

        Directory.CreateDirectory(folder);
        WriteRecords(Path.Combine(folder, FileName(DatasetSplit.Train)), train);
        WriteRecords(Path.Combine(folder, FileName(DatasetSplit.Test)), test);
        AtomicFile.WriteAllText(Path.Combine(folder, "classes.txt"), string.Join('\n', ClassNames) + "\n");
        AtomicFile.WriteAllText(Path.Combine(folder, "train_filenames.txt"), string.Concat(train.Select(i => i.Name + "\n")));
        AtomicFile.WriteAllText(Path.Combine(folder, "test_filenames.txt"), string.Concat(test.Select(i => i.Name + "\n")));

        DownloadLog.ConvertedGtsrb(logger ?? NullLogger.Instance, train.Count, test.Count, folder);
        return new GtsrbConversionResult(folder, train.Count, test.Count, CountPerClass(train), CountPerClass(test));
    }

    /// <summary>One converted image: its name for the file list, its label and its R, G, B planes.</summary>
    private readonly record struct ConvertedImage(string Name, byte Label, byte[] Planes);

    private readonly record struct CsvRow(string FileName, int ClassId);

    [GeneratedRegex(@"(?:^|/)Final_Training/Images/(\d{5})/GT-\1\.csv$", RegexOptions.CultureInvariant)]
    private static partial Regex TrainingCsvPattern();

    [GeneratedRegex(@"(?:^|/)Final_Test/Images/(\d{5}\.ppm)$", RegexOptions.CultureInvariant)]
    private static partial Regex TestImagePattern();

    private static List<ConvertedImage> ReadTrainingSet(string zipPath, IProgress<DatasetBuildProgress>? progress, CancellationToken cancellationToken)
    {
        using var zip = OpenZip(zipPath);
        var entries = IndexEntries(zip);
        var classFolders = entries
            .Select(e => (Entry: e.Value, Match: TrainingCsvPattern().Match(e.Key)))
            .Where(x => x.Match.Success)
            .Select(x => (x.Entry, Folder: x.Match.Groups[1].Value, Directory: x.Entry.FullName[..x.Entry.FullName.LastIndexOf('/')]))
            .OrderBy(x => int.Parse(x.Folder, CultureInfo.InvariantCulture))
            .ToList();
        if (classFolders.Count == 0)
            throw new DatasetFormatException(zipPath, "holds no Final_Training/Images/000CC/GT-000CC.csv files (is it GTSRB_Final_Training_Images.zip?)");

        var lists = classFolders.Select(c => (c.Folder, c.Directory, c.Entry, Rows: ReadCsv(zipPath, c.Entry))).ToList();
        int total = lists.Sum(l => l.Rows.Count);
        var images = new List<ConvertedImage>(total);
        progress?.Report(new DatasetBuildProgress("train", 0, total));
        foreach (var (classFolder, directory, csv, rows) in lists)
        {
            foreach (var row in rows)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!entries.TryGetValue($"{directory}/{row.FileName}", out var entry))
                    throw new DatasetFormatException(zipPath, $"entry {csv.FullName} lists {row.FileName}, which the archive does not hold");
                images.Add(new ConvertedImage($"{classFolder}/{row.FileName}", (byte)row.ClassId, DecodeToPlanes(zipPath, entry)));
                if (images.Count % ProgressStep == 0) progress?.Report(new DatasetBuildProgress("train", images.Count, total));
            }
        }
        progress?.Report(new DatasetBuildProgress("train", images.Count, total));
        return images;
    }

    private static List<ConvertedImage> ReadTestSet(string imagesZipPath, string groundTruthZipPath, IProgress<DatasetBuildProgress>? progress,
        CancellationToken cancellationToken)
    {
        Dictionary<string, int> labels;
        string groundTruthName;
        using (var groundTruthZip = OpenZip(groundTruthZipPath))
        {
            var csv = groundTruthZip.Entries.FirstOrDefault(e => Path.GetFileName(e.FullName.Replace('\\', '/')) == "GT-final_test.csv")
                ?? throw new DatasetFormatException(groundTruthZipPath, "holds no GT-final_test.csv (is it GTSRB_Final_Test_GT.zip?)");
            groundTruthName = csv.FullName;
            labels = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var row in ReadCsv(groundTruthZipPath, csv))
                if (!labels.TryAdd(row.FileName, row.ClassId))
                    throw new DatasetFormatException(groundTruthZipPath, $"entry {csv.FullName} lists {row.FileName} twice");
        }

        using var zip = OpenZip(imagesZipPath);
        var files = IndexEntries(zip)
            .Select(e => (Entry: e.Value, Match: TestImagePattern().Match(e.Key)))
            .Where(x => x.Match.Success)
            .Select(x => (x.Entry, FileName: x.Match.Groups[1].Value))
            .OrderBy(x => x.FileName, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
            throw new DatasetFormatException(imagesZipPath, "holds no Final_Test/Images/NNNNN.ppm images (is it GTSRB_Final_Test_Images.zip?)");
        if (labels.Keys.Except(files.Select(f => f.FileName), StringComparer.Ordinal).Order(StringComparer.Ordinal).FirstOrDefault() is { } missing)
            throw new DatasetFormatException(imagesZipPath,
                $"holds no image Final_Test/Images/{missing}, which {groundTruthName} in {groundTruthZipPath} lists ({labels.Count} rows, {files.Count} images)");

        var images = new List<ConvertedImage>(files.Count);
        progress?.Report(new DatasetBuildProgress("test", 0, files.Count));
        foreach (var (entry, fileName) in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!labels.TryGetValue(fileName, out var label))
                throw new DatasetFormatException(groundTruthZipPath, $"entry {groundTruthName} has no row for {fileName} (entry {entry.FullName} of {imagesZipPath})");
            images.Add(new ConvertedImage(fileName, (byte)label, DecodeToPlanes(imagesZipPath, entry)));
            if (images.Count % ProgressStep == 0) progress?.Report(new DatasetBuildProgress("test", images.Count, files.Count));
        }
        progress?.Report(new DatasetBuildProgress("test", images.Count, files.Count));
        return images;
    }

    /// <summary>Reads the Filename and ClassId columns of a semicolon-separated GTSRB CSV.</summary>
    private static List<CsvRow> ReadCsv(string zipPath, ZipArchiveEntry entry)
    {
        using var reader = new StreamReader(new MemoryStream(ReadEntry(zipPath, entry)), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var rows = new List<CsvRow>();
        int fileColumn = -1, classColumn = -1, line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            var fields = text.Split(';');
            if (fileColumn < 0)
            {
                var header = fields.Select(f => f.Trim()).ToList();
                fileColumn = header.IndexOf("Filename");
                classColumn = header.IndexOf("ClassId");
                if (fileColumn < 0 || classColumn < 0)
                    throw new DatasetFormatException(zipPath, $"entry {entry.FullName}: the header lacks the Filename or ClassId column (found '{text}')");
                continue;
            }
            if (fields.Length <= Math.Max(fileColumn, classColumn))
                throw new DatasetFormatException(zipPath, $"entry {entry.FullName} line {line}: {fields.Length} fields; the header has more ('{text}')");
            var fileName = fields[fileColumn].Trim();
            if (fileName.Length == 0 || fileName.Contains('/') || fileName.Contains('\\'))
                throw new DatasetFormatException(zipPath, $"entry {entry.FullName} line {line}: bad file name '{fileName}'");
            if (!int.TryParse(fields[classColumn].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var classId) || classId >= ClassNames.Count)
                throw new DatasetFormatException(zipPath, $"entry {entry.FullName} line {line}: ClassId '{fields[classColumn].Trim()}' is not a class in 0..{ClassNames.Count - 1}");
            rows.Add(new CsvRow(fileName, classId));
        }
        if (fileColumn < 0)
            throw new DatasetFormatException(zipPath, $"entry {entry.FullName} is empty");
        return rows;
    }

    private static byte[] DecodeToPlanes(string zipPath, ZipArchiveEntry entry)
    {
        RgbImage image;
        try
        {
            image = PpmDecoder.Decode(ReadEntry(zipPath, entry));
        }
        catch (InvalidDataException ex)
        {
            throw new DatasetFormatException(zipPath, $"entry {entry.FullName}: {ex.Message}", ex);
        }
        var resized = OpenCvLinearResize.Resize(image.Pixels, image.Width, image.Height, 3, ImageSize, ImageSize);
        const int plane = ImageSize * ImageSize;
        var planes = new byte[3 * plane];
        for (int p = 0; p < plane; p++)
        {
            planes[p] = resized[3 * p];
            planes[plane + p] = resized[3 * p + 1];
            planes[2 * plane + p] = resized[3 * p + 2];
        }
        return planes;
    }

    private static ZipArchive OpenZip(string path)
    {
        if (!File.Exists(path)) throw new DatasetFormatException(path, "file not found");
        try
        {
            return ZipFile.OpenRead(path);
        }
        catch (InvalidDataException ex)
        {
            throw new DatasetFormatException(path, $"not a readable ZIP archive ({ex.Message})", ex);
        }
    }

    /// <summary>Entries by full name with '/' separators (the first of duplicate names wins).</summary>
    private static Dictionary<string, ZipArchiveEntry> IndexEntries(ZipArchive zip)
    {
        var entries = new Dictionary<string, ZipArchiveEntry>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries) entries.TryAdd(entry.FullName.Replace('\\', '/'), entry);
        return entries;
    }

    private static byte[] ReadEntry(string zipPath, ZipArchiveEntry entry)
    {
        if (entry.Length > MaxEntryBytes)
            throw new DatasetFormatException(zipPath, $"entry {entry.FullName} is {entry.Length} bytes, more than any GTSRB image or CSV ({MaxEntryBytes})");
        try
        {
            using var stream = entry.Open();
            var bytes = new byte[entry.Length];
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            throw new DatasetFormatException(zipPath, $"entry {entry.FullName} cannot be decompressed ({ex.Message})", ex);
        }
    }

    private static void WriteRecords(string path, List<ConvertedImage> images) =>
        AtomicFile.Write(path, stream =>
        {
            foreach (var image in images)
            {
                stream.WriteByte(image.Label);
                stream.Write(image.Planes);
            }
        });

    private static int[] CountPerClass(List<ConvertedImage> images)
    {
        var counts = new int[ClassNames.Count];
        foreach (var image in images) counts[image.Label]++;
        return counts;
    }
}

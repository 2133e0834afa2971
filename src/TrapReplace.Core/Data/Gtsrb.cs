namespace TrapReplace.Data;

/// <summary>
/// The German Traffic Sign Recognition Benchmark (GTSRB), 43 classes, stored as 32x32 images in the
/// CIFAR-10 record layout: <c>gtsrb-32x32-bin/train.bin</c> (the official Final_Training set, 39,209
/// records, in class order and, within a class, in the official CSV order) and <c>test.bin</c> (the
/// official Final_Test set, 12,630 records, in file order 00000..12629). Each record is 1 label byte
/// (0..42) and the R, G, B planes of 32x32 bytes.
/// </summary>
/// <remarks>
/// The 32x32 images are the whole official images (sign plus its ~10 % border, no ROI crop) resized
/// with bilinear interpolation exactly as OpenCV's <c>cv2.resize</c> does by default; see
/// <see cref="ConvertFromOfficialArchives"/>. Stallkamp, Schlipsing, Salmen and Igel, "Man vs.
/// computer: Benchmarking machine learning algorithms for traffic sign recognition", Neural
/// Networks 32, 2012.
/// </remarks>
public static partial class Gtsrb
{
    /// <summary>The folder name inside a data root.</summary>
    public const string FolderName = "gtsrb-32x32-bin";

    /// <summary>Height and width of the stored images.</summary>
    public const int ImageSize = 32;

    /// <summary>Number of records in the official training set.</summary>
    public const int OfficialTrainCount = 39_209;

    /// <summary>Number of records in the official test set.</summary>
    public const int OfficialTestCount = 12_630;

    /// <summary>The 43 class names, index = label (the official ClassId).</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
    [
        "Speed limit (20km/h)",
        "Speed limit (30km/h)",
        "Speed limit (50km/h)",
        "Speed limit (60km/h)",
        "Speed limit (70km/h)",
        "Speed limit (80km/h)",
        "End of speed limit (80km/h)",
        "Speed limit (100km/h)",
        "Speed limit (120km/h)",
        "No passing",
        "No passing for vehicles over 3.5 metric tons",
        "Right-of-way at the next intersection",
        "Priority road",
        "Yield",
        "Stop",
        "No vehicles",
        "Vehicles over 3.5 metric tons prohibited",
        "No entry",
        "General caution",
        "Dangerous curve to the left",
        "Dangerous curve to the right",
        "Double curve",
        "Bumpy road",
        "Slippery road",
        "Road narrows on the right",
        "Road work",
        "Traffic signals",
        "Pedestrians",
        "Children crossing",
        "Bicycles crossing",
        "Beware of ice/snow",
        "Wild animals crossing",
        "End of all speed and passing limits",
        "Turn right ahead",
        "Turn left ahead",
        "Ahead only",
        "Go straight or right",
        "Go straight or left",
        "Keep right",
        "Keep left",
        "Roundabout mandatory",
        "End of no passing",
        "End of no passing by vehicles over 3.5 metric tons",
    ];

    /// <summary>The record file of a split: <c>train.bin</c> or <c>test.bin</c>.</summary>
    public static string FileName(DatasetSplit split) => split == DatasetSplit.Train ? "train.bin" : "test.bin";

    /// <summary>
    /// Reads a split from <paramref name="directory"/>, which is either a data root holding
    /// <c>gtsrb-32x32-bin/</c> or that folder itself. The record count is not fixed, so files made
    /// from a subset of the official archives load too.
    /// </summary>
    /// <param name="directory">The data root or the <c>gtsrb-32x32-bin</c> folder.</param>
    /// <param name="split">Which split to read.</param>
    /// <returns>Images (N, 3, 32, 32) uint8 with labels in [0, 43); the caller owns (disposes) it.</returns>
    /// <exception cref="DatasetFormatException">The file is missing, empty, not a whole number of
    /// 3,073-byte records, or holds a label of 43 or more.</exception>
    public static ImageDataset Load(string directory, DatasetSplit split)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var path = Path.Combine(ResolveFolder(directory), FileName(split));
        var (images, labels) = BinaryRecordFile.Read([path], ImageSize, ImageSize, ClassNames.Count);
        return ImageDataset.Own(images, labels, ClassNames, $"gtsrb-{split.ToString().ToLowerInvariant()}");
    }

    /// <summary>True when both <c>train.bin</c> and <c>test.bin</c> are under <paramref name="directory"/>.</summary>
    public static bool IsPresent(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var folder = ResolveFolder(directory);
        return File.Exists(Path.Combine(folder, FileName(DatasetSplit.Train))) && File.Exists(Path.Combine(folder, FileName(DatasetSplit.Test)));
    }

    /// <summary>What keeps <see cref="IsPresent"/> false: each expected file that is missing or is a folder, by path.</summary>
    public static IReadOnlyList<string> MissingFiles(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var folder = ResolveFolder(directory);
        return DataFiles.Problems([Path.Combine(folder, FileName(DatasetSplit.Train)), Path.Combine(folder, FileName(DatasetSplit.Test))]);
    }

    internal static string ResolveFolder(string directory) =>
        Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)) == FolderName ? directory : Path.Combine(directory, FolderName);
}

using Microsoft.Extensions.Logging;

namespace TrapReplace.Data;

/// <summary>Source-generated log messages of data acquisition: downloads, extraction and conversion
/// (stable event ids 2100-2119).</summary>
internal static partial class DownloadLog
{
    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Downloading {Url} to {Path}")]
    public static partial void Downloading(ILogger logger, Uri url, string path);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Downloaded {Url}: {Bytes} bytes in {Seconds:F1} s, {Checksum} ({Verification})")]
    public static partial void Downloaded(ILogger logger, Uri url, long bytes, double seconds, FileChecksum checksum, string verification);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "No checksum is configured for {Url}; the download is not verified. Pin its digest {Checksum} in DatasetDownloadOptions.Checksums to verify later downloads")]
    public static partial void Unverified(ILogger logger, Uri url, FileChecksum checksum);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Using the archive already at {Path} ({Verification})")]
    public static partial void UsingExistingArchive(ILogger logger, string path, string verification);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "The archive at {Path} has {Actual}, expected {Expected}; downloading it again")]
    public static partial void ExistingArchiveMismatch(ILogger logger, string path, FileChecksum actual, FileChecksum expected);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information, Message = "Extracted {Files} files from {Archive} into {Folder}")]
    public static partial void Extracted(ILogger logger, int files, string archive, string folder);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Information, Message = "Converted GTSRB: {Train} training and {Test} test images into {Folder}")]
    public static partial void ConvertedGtsrb(ILogger logger, int train, int test, string folder);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Debug, Message = "Deleted archive {Path}")]
    public static partial void DeletedArchive(ILogger logger, string path);

    [LoggerMessage(EventId = 2108, Level = LogLevel.Warning, Message = "Could not delete archive {Path}: {Reason}")]
    public static partial void ArchiveNotDeleted(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 2109, Level = LogLevel.Information, Message = "Loaded {Count} images of {Classes} classes from image folder {Root} at {Size}x{Size}")]
    public static partial void LoadedImageFolder(ILogger logger, int count, int classes, string root, int size);
}

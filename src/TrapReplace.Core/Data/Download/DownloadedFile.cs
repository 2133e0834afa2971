namespace TrapReplace.Data;

/// <summary>A file that <see cref="DatasetDownloader"/> wrote completely.</summary>
/// <param name="Path">Full path of the file.</param>
/// <param name="Source">The URL it was read from (after any mirror override).</param>
/// <param name="Length">Its size in bytes.</param>
/// <param name="Checksum">Its digest: with the expected checksum's algorithm when one was given, else SHA-256.</param>
/// <param name="ChecksumVerified">True when an expected checksum was given and matched.</param>
public sealed record DownloadedFile(string Path, Uri Source, long Length, FileChecksum Checksum, bool ChecksumVerified);

namespace TrapReplace.Data;

/// <summary>Progress of one file download.</summary>
/// <param name="Source">The URL being read (after any mirror override).</param>
/// <param name="FileName">The name of the file being written.</param>
/// <param name="BytesReceived">Bytes received so far.</param>
/// <param name="TotalBytes">The size the server announced (Content-Length); null when it gave none (the last report of a
/// finished download always gives the final size).</param>
public sealed record DownloadProgress(Uri Source, string FileName, long BytesReceived, long? TotalBytes)
{
    /// <summary>Fraction done in [0, 1], or null when the total size is unknown.</summary>
    public double? Fraction => TotalBytes is > 0 and long total ? Math.Clamp((double)BytesReceived / total, 0, 1) : null;
}

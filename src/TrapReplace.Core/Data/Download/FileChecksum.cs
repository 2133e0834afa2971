using System.Security.Cryptography;

namespace TrapReplace.Data;

/// <summary>
/// A file digest: an algorithm and its value as lowercase hex. Two checksums are equal when both the
/// algorithm and the digest match.
/// </summary>
public sealed record FileChecksum
{
    /// <summary>Creates a checksum, validating the digest length and normalising it to lowercase.</summary>
    /// <param name="algorithm">The digest algorithm.</param>
    /// <param name="hex">The digest as hex digits (32 for MD5, 64 for SHA-256), either case.</param>
    /// <exception cref="ArgumentException"><paramref name="hex"/> is not a digest of that algorithm.</exception>
    public FileChecksum(ChecksumAlgorithm algorithm, string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        int digits = algorithm switch
        {
            ChecksumAlgorithm.Md5 => 32,
            ChecksumAlgorithm.Sha256 => 64,
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unknown checksum algorithm"),
        };
        var trimmed = hex.Trim();
        if (trimmed.Length != digits || !trimmed.All(char.IsAsciiHexDigit))
            throw new ArgumentException($"a {NameOf(algorithm)} digest is {digits} hex digits; got '{hex}'", nameof(hex));
        Algorithm = algorithm;
        Hex = trimmed.ToLowerInvariant();
    }

    /// <summary>The digest algorithm.</summary>
    public ChecksumAlgorithm Algorithm { get; }

    /// <summary>The digest, lowercase hex.</summary>
    public string Hex { get; }

    /// <summary>An MD5 checksum from its 32 hex digits.</summary>
    public static FileChecksum Md5(string hex) => new(ChecksumAlgorithm.Md5, hex);

    /// <summary>A SHA-256 checksum from its 64 hex digits.</summary>
    public static FileChecksum Sha256(string hex) => new(ChecksumAlgorithm.Sha256, hex);

    /// <summary>Computes the <paramref name="algorithm"/> digest of the file at <paramref name="path"/>.</summary>
    /// <returns>The file's checksum.</returns>
    public static async Task<FileChecksum> ComputeAsync(string path, ChecksumAlgorithm algorithm, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var hash = CreateHash(algorithm);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                hash.AppendData(buffer, 0, read);
        }
        return new FileChecksum(algorithm, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>Algorithm name and digest, for example <c>MD5 c32a1d4a…</c>.</summary>
    public override string ToString() => $"{NameOf(Algorithm)} {Hex}";

    internal static IncrementalHash CreateHash(ChecksumAlgorithm algorithm) => algorithm switch
    {
        ChecksumAlgorithm.Md5 => IncrementalHash.CreateHash(HashAlgorithmName.MD5),
        ChecksumAlgorithm.Sha256 => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unknown checksum algorithm"),
    };

    private static string NameOf(ChecksumAlgorithm algorithm) => algorithm == ChecksumAlgorithm.Md5 ? "MD5" : "SHA-256";
}

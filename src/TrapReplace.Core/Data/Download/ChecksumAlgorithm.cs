namespace TrapReplace.Data;

/// <summary>Digest algorithms a <see cref="FileChecksum"/> can use.</summary>
public enum ChecksumAlgorithm
{
    /// <summary>MD5 (32 hex digits). Used only because CIFAR-10 publishes MD5 digests; it detects
    /// corruption, not tampering.</summary>
    Md5,

    /// <summary>SHA-256 (64 hex digits).</summary>
    Sha256,
}

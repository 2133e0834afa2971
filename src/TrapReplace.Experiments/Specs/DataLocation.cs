using TrapReplace.Data;

namespace TrapReplace.Experiments.Specs;

/// <summary>Where the data lives and whether the runner may download into it.</summary>
/// <param name="Directory">The data root.</param>
/// <param name="Source">How it was chosen (for messages): --data, TRAPREPLACE_DATA or the cache.</param>
/// <param name="MayDownload">True only for the per-user cache: an explicit folder must already hold the data.</param>
/// <param name="MirrorBaseUri">Download from this mirror instead of the official servers (TRAPREPLACE_MIRROR).</param>
public sealed record DataLocation(string Directory, string Source, bool MayDownload, Uri? MirrorBaseUri)
{
    /// <summary>Environment variable pinning archive digests: <c>FILE=sha256:HEX</c> (or <c>md5:HEX</c>), comma-separated.</summary>
    public const string PinVariable = "TRAPREPLACE_PIN";

    /// <summary>Digests pinned through <see cref="PinVariable"/>, by archive file name.</summary>
    public IReadOnlyDictionary<string, FileChecksum> Pins { get; init; } = new Dictionary<string, FileChecksum>();

    /// <summary>Parses <see cref="PinVariable"/>'s value.</summary>
    /// <exception cref="UsageException">An entry is not FILE=sha256:HEX or FILE=md5:HEX.</exception>
    public static IReadOnlyDictionary<string, FileChecksum> ParsePins(string? text)
    {
        var pins = new Dictionary<string, FileChecksum>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text)) return pins;
        foreach (var entry in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = entry.Split('=', 2);
            var digest = parts.Length == 2 ? parts[1].Split(':', 2) : [];
            bool hex = digest.Length == 2 && digest[1].All(Uri.IsHexDigit);
            FileChecksum? checksum = !hex ? null : digest[0].ToLowerInvariant() switch
            {
                "sha256" when digest[1].Length == 64 => FileChecksum.Sha256(digest[1].ToLowerInvariant()),
                "md5" when digest[1].Length == 32 => FileChecksum.Md5(digest[1].ToLowerInvariant()),
                _ => null,
            };
            if (checksum is null || string.IsNullOrWhiteSpace(parts[0]) || parts[0].IndexOfAny(['/', '\\']) >= 0)
                throw new UsageException($"{PinVariable} entries must be FILE=sha256:HEX (64 hex digits) or FILE=md5:HEX (32); got '{entry}'");
            pins[parts[0]] = checksum;
        }
        return pins;
    }

    /// <summary>Environment variable naming a download mirror (also how tests point downloads at a loopback server).</summary>
    public const string MirrorVariable = "TRAPREPLACE_MIRROR";

    /// <summary>Resolves --data, then TRAPREPLACE_DATA, then the per-user cache.</summary>
    /// <exception cref="UsageException">TRAPREPLACE_MIRROR is not an absolute URL.</exception>
    /// <exception cref="DataUnavailableException">An explicit folder does not exist or is a file.</exception>
    public static DataLocation Resolve(string? explicitDirectory) =>
        ResolveFolder(explicitDirectory) with { Pins = ParsePins(Environment.GetEnvironmentVariable(PinVariable)) };

    private static DataLocation ResolveFolder(string? explicitDirectory)
    {
        var mirrorText = Environment.GetEnvironmentVariable(MirrorVariable);
        Uri? mirror = string.IsNullOrWhiteSpace(mirrorText) ? null
            : Uri.TryCreate(mirrorText, UriKind.Absolute, out var m) ? m
            : throw new UsageException($"{MirrorVariable} is not an absolute URL: '{mirrorText}'");
        if (!string.IsNullOrWhiteSpace(explicitDirectory))
            return new DataLocation(ExistingFolder(explicitDirectory, "--data"), "--data", false, mirror);
        var fromEnvironment = Environment.GetEnvironmentVariable(DataDirectory.EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
            return new DataLocation(ExistingFolder(fromEnvironment, DataDirectory.EnvironmentVariable), DataDirectory.EnvironmentVariable, false, mirror);
        return new DataLocation(DataDirectory.DefaultCacheDirectory, "per-user cache", true, mirror);
    }

    // Missing data is exit code 3 whichever way the folder was named.
    private static string ExistingFolder(string path, string source)
    {
        if (File.Exists(path)) throw new DataUnavailableException($"data folder '{path}' ({source}) is a file; give the folder that holds the data sets");
        if (!System.IO.Directory.Exists(path)) throw new DataUnavailableException($"data folder '{path}' ({source}) does not exist");
        return Path.GetFullPath(path);
    }
}

namespace TrapReplace.Data;

/// <summary>
/// Where data sets live: an explicit folder, else the folder named by the <c>TRAPREPLACE_DATA</c>
/// environment variable, else a per-user cache folder.
/// </summary>
public static class DataDirectory
{
    /// <summary>The environment variable that names the data root.</summary>
    public const string EnvironmentVariable = "TRAPREPLACE_DATA";

    /// <summary>The name of the data root inside the per-user cache folder.</summary>
    public const string CacheFolderName = "trapreplace-data";

    /// <summary>
    /// The data root to use, as a full path. The folder is not created.
    /// </summary>
    /// <param name="explicitDirectory">A folder chosen by the caller (for example a command-line
    /// option); used when not null or blank.</param>
    /// <returns>
    /// <paramref name="explicitDirectory"/>; else <c>TRAPREPLACE_DATA</c> when set; else
    /// <see cref="DefaultCacheDirectory"/>.
    /// </returns>
    public static string Resolve(string? explicitDirectory = null) =>
        ResolveWith(explicitDirectory, Environment.GetEnvironmentVariable, OperatingSystem.IsWindows());

    /// <summary>
    /// The per-user cache data root: on Windows <c>%LOCALAPPDATA%\trapreplace-data</c>; elsewhere
    /// <c>$XDG_CACHE_HOME/trapreplace-data</c> when <c>XDG_CACHE_HOME</c> is an absolute path, else
    /// <c>~/.cache/trapreplace-data</c> (the folder <c>shared/data/unpack.sh</c> fills).
    /// </summary>
    /// <exception cref="InvalidOperationException">No home or local application data folder is known.</exception>
    public static string DefaultCacheDirectory => CacheDirectory(Environment.GetEnvironmentVariable, OperatingSystem.IsWindows());

    internal static string ResolveWith(string? explicitDirectory, Func<string, string?> environment, bool isWindows)
    {
        if (!string.IsNullOrWhiteSpace(explicitDirectory)) return Path.GetFullPath(explicitDirectory);
        if (environment(EnvironmentVariable) is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
            return Path.GetFullPath(fromEnvironment);
        return CacheDirectory(environment, isWindows);
    }

    internal static string CacheDirectory(Func<string, string?> environment, bool isWindows)
    {
        string baseFolder;
        if (isWindows)
        {
            // %LOCALAPPDATA% is what the folder API reads too; taking it from the environment first keeps this testable.
            baseFolder = environment("LOCALAPPDATA") is { Length: > 0 } local && Path.IsPathRooted(local)
                ? local
                : Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        }
        else if (environment("XDG_CACHE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg))
        {
            baseFolder = xdg;
        }
        else
        {
            var home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            baseFolder = string.IsNullOrEmpty(home) ? "" : Path.Combine(home, ".cache");
        }
        if (string.IsNullOrEmpty(baseFolder))
            throw new InvalidOperationException($"no per-user cache folder is known on this machine; set {EnvironmentVariable} to a data folder");
        return Path.GetFullPath(Path.Combine(baseFolder, CacheFolderName));
    }
}

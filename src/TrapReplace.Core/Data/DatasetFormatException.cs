namespace TrapReplace.Data;

/// <summary>
/// Thrown when a data file is missing, truncated, corrupt or otherwise not in the expected layout.
/// The message always names the file and the problem; no partial data set is ever returned.
/// </summary>
public sealed class DatasetFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/> with a description of the <paramref name="problem"/>.</summary>
    public DatasetFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file (or folder) that is wrong.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}

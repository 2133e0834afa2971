namespace TrapReplace.Persistence;

/// <summary>
/// Thrown when a model file or a training checkpoint is missing, truncated, fails its checksum, holds non-finite
/// weights or does not fit the network it is loaded into. The message names the file and the problem; nothing from a
/// damaged file is ever loaded.
/// </summary>
public sealed class ModelFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/> with a description of the <paramref name="problem"/>.</summary>
    public ModelFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file that is wrong.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}

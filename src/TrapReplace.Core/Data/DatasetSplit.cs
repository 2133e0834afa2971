namespace TrapReplace.Data;

/// <summary>Which part of a benchmark data set to read.</summary>
public enum DatasetSplit
{
    /// <summary>The official training set.</summary>
    Train,

    /// <summary>The official test set.</summary>
    Test,
}

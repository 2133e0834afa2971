namespace TrapReplace.Internal;

/// <summary>One CSV field as RFC 4180 writes it. Linked into Core (the suspect table) and Experiments (cells.csv).</summary>
internal static class CsvField
{
    /// <summary>The field itself, or, when it holds a comma, quote or line break, quoted with its quotes doubled.</summary>
    internal static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

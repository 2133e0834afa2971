using TrapReplace.Runtime;

namespace TrapReplace.Experiments.Specs;

/// <summary>The short names result files, failure records and the command line give a <see cref="Precision"/>.</summary>
public static class PrecisionName
{
    /// <summary><see cref="Precision.Float32"/>.</summary>
    public const string Float32 = "fp32";

    /// <summary><see cref="Precision.BFloat16"/> (bf16 autocast, float32 weights).</summary>
    public const string BFloat16 = "bf16";

    /// <summary>The short name of <paramref name="precision"/>.</summary>
    public static string Of(Precision precision) => precision switch
    {
        Precision.Float32 => Float32,
        Precision.BFloat16 => BFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "not a known precision"),
    };

    /// <summary>Reads a short name (exactly <see cref="Float32"/> or <see cref="BFloat16"/>); false for anything else.</summary>
    public static bool TryParse(string? value, out Precision precision)
    {
        (bool known, precision) = value switch
        {
            Float32 => (true, Precision.Float32),
            BFloat16 => (true, Precision.BFloat16),
            _ => (false, Precision.Float32),
        };
        return known;
    }
}

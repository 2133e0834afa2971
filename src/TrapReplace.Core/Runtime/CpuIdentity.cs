using System.Globalization;

namespace TrapReplace.Runtime;

/// <summary>
/// Which CPU a process runs on, as Linux's /proc/cpuinfo names it. The product name alone does not tell machines apart
/// ("AMD EPYC" covers Zen 4 and Zen 5, whose floating point differs in the last bits for the same recipe), so the family
/// and model numbers and the instruction-set flags that decide speed and precision come with it. Result files record it
/// beside every speed and accuracy figure.
/// </summary>
/// <param name="Name">The "model name" line, e.g. "AMD EPYC".</param>
/// <param name="Family">The "cpu family" number; null when absent.</param>
/// <param name="Model">The "model" number; null when absent.</param>
/// <param name="Flags">Every flag of the first processor.</param>
public sealed record CpuIdentity(string Name, int? Family, int? Model, IReadOnlySet<string> Flags)
{
    // The flags that change what this library can do fast: vector width and native bfloat16 (see MixedPrecision).
    private static readonly string[] PerformanceFlags = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"];

    private static readonly Lazy<CpuIdentity?> current = new(ReadCurrent);

    /// <summary>This machine's CPU; null off Linux or when /proc/cpuinfo cannot be read.</summary>
    public static CpuIdentity? Current => current.Value;

    /// <summary>One line for result files and reports, e.g. "AMD EPYC (family 26, model 2; avx2 avx512f avx512_bf16)".</summary>
    public string Describe()
    {
        var numbers = Family is int f ? string.Create(CultureInfo.InvariantCulture, $"family {f}, model {Model?.ToString(CultureInfo.InvariantCulture) ?? "?"}") : null;
        var flags = string.Join(' ', PerformanceFlags.Where(Flags.Contains));
        var inside = string.Join("; ", new[] { numbers, flags.Length > 0 ? flags : null }.Where(s => s is not null));
        return inside.Length > 0 ? $"{Name} ({inside})" : Name;
    }

    /// <summary>Reads the first processor's block of a /proc/cpuinfo text; null when it names no CPU.</summary>
    internal static CpuIdentity? Parse(string cpuinfo)
    {
        ArgumentNullException.ThrowIfNull(cpuinfo);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in cpuinfo.Split('\n'))
        {
            if (line.Trim().Length == 0)
            {
                if (fields.Count > 0) break; // the first processor's block has ended
                continue;
            }
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0) continue;
            fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
        }
        // x86 says "model name"; some ARM kernels say only "CPU implementer"/"Processor".
        if (!fields.TryGetValue("model name", out var name) && !fields.TryGetValue("Processor", out name)) return null;
        static int? Number(Dictionary<string, string> f, string key) =>
            f.TryGetValue(key, out var s) && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : null;
        var flags = (fields.GetValueOrDefault("flags") ?? fields.GetValueOrDefault("Features") ?? "")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        return new CpuIdentity(name, Number(fields, "cpu family"), Number(fields, "model"), flags);
    }

    private static CpuIdentity? ReadCurrent()
    {
        try
        {
            return OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo") ? Parse(File.ReadAllText("/proc/cpuinfo")) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

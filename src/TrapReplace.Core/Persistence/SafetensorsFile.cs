using System.Text.Json;
using static TorchSharp.torch;

namespace TrapReplace.Persistence;

/// <summary>
/// Reads a safetensors file's structure (an 8-byte little-endian header length, a JSON header of
/// <c>{ name: { dtype, shape, data_offsets } }</c>, then the data) without trusting it: every bound is checked before
/// anything is allocated or loaded, so a hostile or damaged file is refused with the reason, never half-loaded.
/// </summary>
internal static class SafetensorsFile
{
    // More than any network here needs; a larger claimed header is refused before it is read.
    private const long MaxHeaderBytes = 64L << 20;

    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new(StringComparer.Ordinal)
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>One tensor as the header describes it.</summary>
    internal sealed record Entry(string DType, long[] Shape, long Begin, long End);

    /// <summary>The header's tensor entries (metadata left out), or the reason the file's structure is not valid.</summary>
    internal static (Dictionary<string, Entry>? Entries, string? Problem) ReadHeader(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8) return (null, "it is shorter than the 8-byte header length");
        ulong headerLength = BitConverter.ToUInt64(bytes[..8]);
        if (headerLength < 2 || headerLength > MaxHeaderBytes || headerLength > (ulong)(bytes.Length - 8))
            return (null, $"its header length {headerLength} does not fit a file of {bytes.Length} bytes");
        long dataLength = bytes.Length - 8 - (long)headerLength;
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        try
        {
            using var header = JsonDocument.Parse(bytes.Slice(8, (int)headerLength).ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
            if (header.RootElement.ValueKind != JsonValueKind.Object) return (null, "its header is not a JSON object");
            foreach (var property in header.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__") continue;
                var value = property.Value;
                if (value.ValueKind != JsonValueKind.Object
                    || !value.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String
                    || !value.TryGetProperty("shape", out var shape) || shape.ValueKind != JsonValueKind.Array
                    || !value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
                    return (null, $"entry '{property.Name}' lacks dtype, shape or data_offsets");
                var dims = shape.EnumerateArray().Select(d => d.GetInt64()).ToArray();
                long begin = offsets[0].GetInt64(), end = offsets[1].GetInt64();
                if (dims.Any(d => d < 0)) return (null, $"entry '{property.Name}' has a negative dimension");
                if (begin < 0 || end < begin || end > dataLength)
                    return (null, $"entry '{property.Name}' has data offsets [{begin}, {end}] outside the {dataLength} data bytes");
                if (!entries.TryAdd(property.Name, new Entry(dtype.GetString()!, dims, begin, end)))
                    return (null, $"entry '{property.Name}' appears twice");
            }
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or ArgumentException)
        {
            return (null, $"its header is not valid JSON: {ex.Message}");
        }
        return (entries, null);
    }

    /// <summary>Why <paramref name="entries"/> do not hold exactly <paramref name="expected"/> (names, element types,
    /// shapes, sizes), or null when they do.</summary>
    internal static string? Mismatch(IReadOnlyDictionary<string, Entry> entries, IReadOnlyDictionary<string, (ScalarType Type, long[] Shape)> expected)
    {
        if (entries.Count != expected.Count) return $"it has {entries.Count} tensors where {expected.Count} are expected";
        foreach (var (name, entry) in entries.OrderBy(e => e.Value.Begin))
        {
            if (!expected.TryGetValue(name, out var want)) return $"it has an unexpected tensor '{name}'";
            if (!DTypes.TryGetValue(entry.DType, out var type)) return $"tensor '{name}' has an unknown dtype '{entry.DType}'";
            if (type.Type != want.Type) return $"tensor '{name}' is {entry.DType}, expected {want.Type}";
            if (!entry.Shape.SequenceEqual(want.Shape))
                return $"tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], expected [{string.Join(", ", want.Shape)}]";
            long bytes = want.Shape.Aggregate(1L, (a, b) => a * b) * type.Size;
            if (entry.End - entry.Begin != bytes) return $"tensor '{name}' holds {entry.End - entry.Begin} bytes, expected {bytes}";
        }
        // Tensors may not share or overlap their bytes.
        long previousEnd = 0;
        foreach (var entry in entries.Values.OrderBy(e => e.Begin))
        {
            if (entry.Begin < previousEnd) return "two tensors overlap in the data";
            previousEnd = entry.End;
        }
        return null;
    }
}

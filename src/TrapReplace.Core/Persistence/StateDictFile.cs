using System.Text;
using static TorchSharp.torch;

namespace TrapReplace.Persistence;

/// <summary>
/// Checks a file in TorchSharp's state-dict format (LEB128 entry count; per entry a length-prefixed UTF-8 key, the
/// element type, the rank, each dimension, then the raw little-endian data) against the state dict a network of the
/// expected architecture has, walking only the headers: every count, rank, dimension and byte length is checked
/// against the expected shapes and the file's size before anything is allocated, so a crafted header cannot ask for
/// gigabytes or overflow a size.
/// </summary>
internal static class StateDictFile
{
    // TorchSharp's element-type codes (c10::ScalarType numbering) with their sizes.
    private static readonly Dictionary<ScalarType, int> ElementSizes = new()
    {
        [ScalarType.Byte] = 1, [ScalarType.Int8] = 1, [ScalarType.Int16] = 2, [ScalarType.Int32] = 4, [ScalarType.Int64] = 8,
        [ScalarType.Float16] = 2, [ScalarType.Float32] = 4, [ScalarType.Float64] = 8, [ScalarType.Bool] = 1, [ScalarType.BFloat16] = 2,
    };

    /// <summary>Null when <paramref name="bytes"/> holds exactly the entries of <paramref name="expected"/> (same keys,
    /// element types and shapes, nothing more); otherwise the first mismatch, in words.</summary>
    public static string? Mismatch(ReadOnlySpan<byte> bytes, IReadOnlyDictionary<string, (ScalarType Type, long[] Shape)> expected)
    {
        int position = 0;
        if (!TryLeb128(bytes, ref position, out long count)) return "the entry count is cut off";
        if (count != expected.Count) return $"it has {count} entries where {expected.Count} are expected";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (long entry = 0; entry < count; entry++)
        {
            if (!TryLeb128(bytes, ref position, out long keyLength) || keyLength > 4096 || keyLength > bytes.Length - position)
                return $"entry {entry} has an impossible key length";
            string key = Encoding.UTF8.GetString(bytes.Slice(position, (int)keyLength));
            position += (int)keyLength;
            if (!expected.TryGetValue(key, out var want)) return $"it has an unexpected entry '{key}'";
            if (!seen.Add(key)) return $"entry '{key}' appears twice";
            if (!TryLeb128(bytes, ref position, out long type) || !ElementSizes.TryGetValue((ScalarType)type, out int size))
                return $"entry '{key}' has an unknown element type";
            if ((ScalarType)type != want.Type) return $"entry '{key}' is {(ScalarType)type}, expected {want.Type}";
            if (!TryLeb128(bytes, ref position, out long rank) || rank != want.Shape.Length)
                return $"entry '{key}' has rank {rank}, expected {want.Shape.Length}";
            for (int d = 0; d < rank; d++)
            {
                if (!TryLeb128(bytes, ref position, out long dimension) || dimension != want.Shape[d])
                    return $"entry '{key}' has dimension {d} = {dimension}, expected {want.Shape[d]}";
            }
            long length = want.Shape.Aggregate(1L, (a, b) => a * b) * size;
            if (length > bytes.Length - position) return $"entry '{key}' is cut off";
            position += (int)length;
        }
        return position == bytes.Length ? null : $"{bytes.Length - position} bytes follow the last entry";
    }

    /// <summary>The number of entries the file says it holds; null when even that is unreadable.</summary>
    public static long? EntryCount(ReadOnlySpan<byte> bytes)
    {
        int position = 0;
        return TryLeb128(bytes, ref position, out long count) ? count : null;
    }

    /// <summary>The keys, element types and shapes of <paramref name="module"/>'s state dict.</summary>
    public static Dictionary<string, (ScalarType Type, long[] Shape)> Layout(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => (kv.Value.dtype, kv.Value.shape), StringComparer.Ordinal);

    // An unsigned LEB128 value of at most 9 bytes (63 bits); false when cut off or too long.
    private static bool TryLeb128(ReadOnlySpan<byte> bytes, ref int position, out long value)
    {
        value = 0;
        for (int shift = 0; shift < 63; shift += 7)
        {
            if (position >= bytes.Length) return false;
            byte b = bytes[position++];
            value |= (long)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return true;
        }
        return false;
    }
}

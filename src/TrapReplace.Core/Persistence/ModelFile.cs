using System.Text;
using System.Text.Json;
using TorchSharp;
using TrapReplace.Data;
using TrapReplace.Models;
using static TorchSharp.torch;

namespace TrapReplace.Persistence;

/// <summary>
/// Saves and loads networks in TorchSharp's native format (the format of <c>Module.save</c>),
/// atomically, and exports weights as safetensors for PyTorch users.
/// </summary>
public static class ModelFile
{
    /// <summary>Saves every parameter and buffer of <paramref name="network"/> to <paramref name="path"/> (TorchSharp format).</summary>
    /// <exception cref="ArgumentException">A weight is NaN or infinite: a damaged network is never written.</exception>
    public static void Save(nn.Module network, string path)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (NetworkState.FirstNonFinite(network) is { } bad)
            throw new ArgumentException($"the network holds non-finite weights (NaN or infinity) in '{bad}'; it is not saved to {path}", nameof(network));
        // Module.save closes the stream it writes to; ToArray still works on a closed MemoryStream.
        var buffer = new MemoryStream();
        network.save(buffer);
        var bytes = buffer.ToArray();
        AtomicFile.Write(path, s => s.Write(bytes, 0, bytes.Length));
    }

    /// <summary>The largest model file accepted (a ResNet-34 trap network is about 100 MB).</summary>
    public const long MaxFileBytes = 2L << 30;

    /// <summary>
    /// Builds a network of <paramref name="backbone"/> and loads a file written by <see cref="Save"/>. The file's
    /// structure is checked against the backbone before anything is loaded: it must hold exactly the entries of a
    /// trapped network (with a decoder) or of a defended one (without), with their element types and shapes. Every
    /// weight must be finite.
    /// </summary>
    /// <exception cref="ModelFormatException">The file is missing, too large, does not hold this backbone's network,
    /// or holds NaN or infinite weights.</exception>
    public static TrapNetwork Load(IBackbone backbone, string path)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        if (!File.Exists(path)) throw new ModelFormatException(path, "model file not found");
        long size = new FileInfo(path).Length;
        if (size > MaxFileBytes) throw new ModelFormatException(path, $"model file is {size} bytes, more than the {MaxFileBytes} accepted");
        var bytes = File.ReadAllBytes(path);

        // Which of the two shapes the file has (trapped with a decoder, or defended without) is read from its
        // structure: its entry count picks the layout, which must then match entry by entry.
        var withDecoder = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), backbone.CreateReconstructionHead()) { Backbone = backbone };
        var trappedLayout = StateDictFile.Layout(withDecoder);
        TrapNetwork network;
        if (StateDictFile.EntryCount(bytes) == trappedLayout.Count)
        {
            network = withDecoder;
        }
        else
        {
            withDecoder.Dispose();
            network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone };
        }
        var layout = StateDictFile.Layout(network);
        if (StateDictFile.Mismatch(bytes, layout) is { } mismatch)
        {
            network.Dispose();
            string counts = layout.Count == trappedLayout.Count ? "" : $" (a trapped network has {trappedLayout.Count} entries, a defended one {layout.Count})";
            throw new ModelFormatException(path, $"does not hold a {backbone.Name} ({backbone.Split}) network with {backbone.ClassCount} classes: {mismatch}{counts}");
        }
        try
        {
            using var stream = new MemoryStream(bytes);
            network.load(stream, strict: true);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or EndOfStreamException or IOException)
        {
            network.Dispose();
            throw new ModelFormatException(path, $"does not hold a {backbone.Name} ({backbone.Split}) network with {backbone.ClassCount} classes: {ex.Message}", ex);
        }
        if (NetworkState.FirstNonFinite(network) is { } bad)
        {
            network.Dispose();
            throw new ModelFormatException(path, $"holds non-finite weights (NaN or infinity) in '{bad}'");
        }
        network.eval();
        return network;
    }

    /// <summary>
    /// Writes the state dict of <paramref name="network"/> as a safetensors file (8-byte little-endian
    /// header length, JSON header with dtype/shape/data_offsets, raw little-endian data), loadable with
    /// <c>safetensors.torch.load_file</c>. Keys are the TorchSharp state-dict keys.
    /// </summary>
    public static void ExportSafetensors(nn.Module network, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        var tensors = network.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>();
        if (metadata is not null) header["__metadata__"] = metadata;
        long offset = 0;
        var blobs = new List<byte[]>();
        foreach (var (name, value) in tensors)
        {
            var (dtype, bytes) = Bytes(value);
            header[name] = new { dtype, shape = value.shape, data_offsets = new[] { offset, offset + bytes.Length } };
            offset += bytes.Length;
            blobs.Add(bytes);
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padding = (8 - json.Length % 8) % 8;
        AtomicFile.Write(path, s =>
        {
            s.Write(BitConverter.GetBytes((ulong)(json.Length + padding)));
            s.Write(json);
            for (int i = 0; i < padding; i++) s.WriteByte((byte)' ');
            foreach (var blob in blobs) s.Write(blob);
        });
    }

    private static (string DType, byte[] Bytes) Bytes(Tensor value)
    {
        var cpu = value.detach().cpu().contiguous();
        return cpu.dtype switch
        {
            ScalarType.Float32 => ("F32", cpu.bytes.ToArray()),
            ScalarType.Float64 => ("F64", cpu.bytes.ToArray()),
            ScalarType.Float16 => ("F16", cpu.bytes.ToArray()),
            ScalarType.BFloat16 => ("BF16", cpu.bytes.ToArray()),
            ScalarType.Int64 => ("I64", cpu.bytes.ToArray()),
            ScalarType.Int32 => ("I32", cpu.bytes.ToArray()),
            ScalarType.Byte => ("U8", cpu.bytes.ToArray()),
            ScalarType.Bool => ("BOOL", cpu.bytes.ToArray()),
            _ => throw new NotSupportedException($"safetensors export does not handle {cpu.dtype}"),
        };
    }
}

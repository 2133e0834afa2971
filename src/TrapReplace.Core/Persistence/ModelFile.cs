using TorchSharp;
using TorchSharp.PyBridge;
using TrapReplace.Data;
using TrapReplace.Models;
using static TorchSharp.torch;

namespace TrapReplace.Persistence;

/// <summary>
/// Saves and loads networks in TorchSharp's native format (the format of <c>Module.save</c>) and as safetensors,
/// atomically, checking a file's structure against the network before loading anything from it.
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
        var bytes = ReadBounded(path);
        return LoadChecked(backbone, path, StateDictFile.EntryCount(bytes),
            layout => StateDictFile.Mismatch(bytes, layout),
            network =>
            {
                using var stream = new MemoryStream(bytes);
                network.load(stream, strict: true);
            });
    }

    /// <summary>
    /// Builds a network of <paramref name="backbone"/> and loads a safetensors file (<see cref="ExportSafetensors"/>'s
    /// output, or weights saved from PyTorch under the same names). Nothing in the file is trusted: the header's
    /// bounds, names, dtypes, shapes and byte ranges are checked against the backbone's trapped (with decoder) or
    /// defended layout before a byte is loaded, and every weight must be finite.
    /// </summary>
    /// <exception cref="ModelFormatException">The file is missing, too large, not valid safetensors, does not hold this
    /// backbone's network, or holds NaN or infinite weights.</exception>
    public static TrapNetwork LoadSafetensors(IBackbone backbone, string path)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        var bytes = ReadBounded(path);
        var (entries, problem) = SafetensorsFile.ReadHeader(bytes);
        if (entries is null) throw new ModelFormatException(path, "not a valid safetensors file: " + problem);
        return LoadChecked(backbone, path, entries.Count,
            layout => SafetensorsFile.Mismatch(entries, layout),
            network =>
            {
                using var stream = new MemoryStream(bytes);
                network.load_safetensors(stream, strict: true);
            });
    }

    /// <summary>
    /// Writes every parameter and buffer of <paramref name="network"/> as a safetensors file (through
    /// TorchSharp.PyBridge), loadable with <c>safetensors.torch.load_file</c> in Python and with
    /// <see cref="LoadSafetensors"/>. Keys are the TorchSharp state-dict keys.
    /// </summary>
    /// <exception cref="ArgumentException">A weight is NaN or infinite: a damaged network is never written.</exception>
    public static void ExportSafetensors(nn.Module network, string path)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (NetworkState.FirstNonFinite(network) is { } bad)
            throw new ArgumentException($"the network holds non-finite weights (NaN or infinity) in '{bad}'; it is not exported to {path}", nameof(network));
        using var scope = NewDisposeScope();
        // Contiguous CPU copies: the file holds row-major bytes whatever layout or device the weights have.
        var tensors = network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().contiguous(), StringComparer.Ordinal);
        var buffer = new MemoryStream();
        TorchSharp.PyBridge.Safetensors.SaveStateDict(buffer, tensors, leaveOpen: true);
        var bytes = buffer.ToArray();
        AtomicFile.Write(path, s => s.Write(bytes, 0, bytes.Length));
    }

    private static byte[] ReadBounded(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "model file not found");
        long size = new FileInfo(path).Length;
        if (size > MaxFileBytes) throw new ModelFormatException(path, $"model file is {size} bytes, more than the {MaxFileBytes} accepted");
        return File.ReadAllBytes(path);
    }

    // Which of the two shapes the file has (trapped with a decoder, or defended without) is read from its structure:
    // its entry count picks the layout, which must then match entry by entry before anything is loaded.
    private static TrapNetwork LoadChecked(IBackbone backbone, string path, long? entryCount,
        Func<Dictionary<string, (ScalarType Type, long[] Shape)>, string?> mismatch, Action<TrapNetwork> load)
    {
        var withDecoder = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), backbone.CreateReconstructionHead()) { Backbone = backbone };
        var trappedLayout = StateDictFile.Layout(withDecoder);
        TrapNetwork network;
        if (entryCount == trappedLayout.Count)
        {
            network = withDecoder;
        }
        else
        {
            withDecoder.Dispose();
            network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone };
        }
        var layout = StateDictFile.Layout(network);
        if (mismatch(layout) is { } problem)
        {
            network.Dispose();
            string counts = layout.Count == trappedLayout.Count ? "" : $" (a trapped network has {trappedLayout.Count} entries, a defended one {layout.Count})";
            throw new ModelFormatException(path, $"does not hold a {backbone.Name} ({backbone.Split}) network with {backbone.ClassCount} classes: {problem}{counts}");
        }
        try
        {
            load(network);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or EndOfStreamException or IOException or FormatException or NotSupportedException)
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
}

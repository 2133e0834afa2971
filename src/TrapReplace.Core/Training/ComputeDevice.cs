using System.ComponentModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using static TorchSharp.torch;

namespace TrapReplace.Training;

/// <summary>
/// Where a stage runs: the CPU, or a CUDA GPU (the current one, or one by index). Written and parsed as TorchSharp's
/// own names (<c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>), so configuration binds it from those strings and result files
/// record them; <c>default</c> is the CPU. JSON holds the name too, so serialized options (result files, the stage-1
/// cache's record) read <c>"device": "cpu"</c> as they did when the device was a string.
/// </summary>
[TypeConverter(typeof(ComputeDeviceConverter))]
[JsonConverter(typeof(ComputeDeviceJsonConverter))]
public readonly record struct ComputeDevice : IParsable<ComputeDevice>
{
    private const string CpuName = "cpu";
    private const string CudaName = "cuda";

    private ComputeDevice(bool isCuda, int? cudaIndex)
    {
        IsCuda = isCuda;
        CudaIndex = cudaIndex;
    }

    /// <summary>The CPU (also <c>default(ComputeDevice)</c>).</summary>
    public static ComputeDevice Cpu => default;

    /// <summary>True for a CUDA device.</summary>
    public bool IsCuda { get; }

    /// <summary>The GPU's index, or null for the current CUDA device (and for the CPU).</summary>
    public int? CudaIndex { get; }

    /// <summary>A CUDA device: the current one when <paramref name="index"/> is null.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is negative.</exception>
    public static ComputeDevice Cuda(int? index = null)
    {
        if (index is < 0) throw new ArgumentOutOfRangeException(nameof(index), index, "A CUDA device index must be >= 0.");
        return new ComputeDevice(isCuda: true, index);
    }

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    /// <exception cref="FormatException">Anything else; the message names the value and the choices.</exception>
    public static ComputeDevice Parse(string value) => Parse(value, provider: null);

    /// <inheritdoc cref="Parse(string)"/>
    public static ComputeDevice Parse(string s, IFormatProvider? provider) =>
        TryParse(s, provider, out var device) ? device : throw new FormatException(InvalidMessage(s));

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>; false for anything else.</summary>
    public static bool TryParse([NotNullWhen(true)] string? s, out ComputeDevice result) => TryParse(s, provider: null, out result);

    /// <inheritdoc cref="TryParse(string?, out ComputeDevice)"/>
    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out ComputeDevice result)
    {
        result = default;
        switch (s)
        {
            case CpuName:
                return true;
            case CudaName:
                result = Cuda();
                return true;
            case not null when s.StartsWith(CudaName + ":", StringComparison.Ordinal)
                && int.TryParse(s.AsSpan(CudaName.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index):
                result = Cuda(index);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The message for a name that is not a device: the value and the choices.</summary>
    public static string InvalidMessage(string? value) => $"Device must be 'cpu', 'cuda' or 'cuda:N'; got '{value}'.";

    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public override string ToString() =>
        !IsCuda ? CpuName : CudaIndex is { } index ? string.Create(CultureInfo.InvariantCulture, $"{CudaName}:{index}") : CudaName;

    /// <summary>TorchSharp's device, checked usable here.</summary>
    /// <exception cref="InvalidOperationException">CUDA was asked for and is not available.</exception>
    public Device ToTorch()
    {
        if (!IsCuda) return CPU;
        if (!cuda.is_available())
            throw new InvalidOperationException($"Device '{this}' was requested but CUDA is not available (reference a libtorch-cuda backend package and run on a GPU host).");
        return new Device(TorchSharp.DeviceType.CUDA, CudaIndex ?? -1);
    }
}

/// <summary>Converts <see cref="ComputeDevice"/> from and to its name, so configuration binding and property grids read it.</summary>
internal sealed class ComputeDeviceConverter : TypeConverter
{
    /// <inheritdoc/>
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    /// <inheritdoc/>
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string name ? ComputeDevice.Parse(name) : base.ConvertFrom(context, culture, value);

    /// <inheritdoc/>
    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is ComputeDevice device ? device.ToString() : base.ConvertTo(context, culture, value, destinationType);
}

/// <summary>Writes <see cref="ComputeDevice"/> as its name and reads it back, refusing anything else by name.</summary>
internal sealed class ComputeDeviceJsonConverter : JsonConverter<ComputeDevice>
{
    public override ComputeDevice Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException($"a device is a string ('cpu', 'cuda' or 'cuda:N'); got {reader.TokenType}");
        var name = reader.GetString();
        return ComputeDevice.TryParse(name, out var device) ? device : throw new JsonException(ComputeDevice.InvalidMessage(name));
    }

    public override void Write(Utf8JsonWriter writer, ComputeDevice value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.ToString());
    }
}

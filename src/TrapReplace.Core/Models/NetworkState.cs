using static TorchSharp.torch;

namespace TrapReplace.Models;

/// <summary>Copies weights between two modules of the same architecture.</summary>
internal static class NetworkState
{
    /// <summary>Copies every parameter and buffer of <paramref name="source"/> into <paramref name="destination"/>.</summary>
    /// <param name="source">Where the values come from; not modified.</param>
    /// <param name="destination">Where they go; its key set and shapes must match.</param>
    /// <param name="part">Name of the part for error messages (<c>stem</c>, <c>head</c>).</param>
    /// <exception cref="ArgumentException">Different keys or shapes: a different architecture or split.</exception>
    public static void Copy(nn.Module source, nn.Module destination, string part)
    {
        var from = source.state_dict();
        var to = destination.state_dict();
        if (!from.Keys.Order().SequenceEqual(to.Keys.Order()))
            throw new ArgumentException($"the source network's {part} does not match the backbone's {part} (different architecture or split)", nameof(source));
        using var noGrad = no_grad();
        foreach (var (name, value) in to)
        {
            if (!value.shape.SequenceEqual(from[name].shape))
                throw new ArgumentException($"{part} parameter '{name}' has shape ({string.Join(", ", from[name].shape)}) in the source network but ({string.Join(", ", value.shape)}) in the backbone", nameof(source));
            value.copy_(from[name]);
        }
    }

    /// <summary>The name of the first parameter or floating-point buffer holding NaN or infinity; null when all are finite.</summary>
    public static string? FirstNonFinite(nn.Module module)
    {
        using var noGrad = no_grad();
        foreach (var (name, value) in module.state_dict())
            if (value.is_floating_point() && !value.isfinite().all().item<bool>()) return name;
        return null;
    }
}

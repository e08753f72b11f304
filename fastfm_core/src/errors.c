/* Status codes in words, for the binding's exception messages. */
#include "fastfm.h"

const char *fm_strerror(int status)
{
    switch (status) {
    case FM_OK: return "success";
    case FM_ERR_NULL: return "a required buffer is missing";
    case FM_ERR_PARAM: return "a parameter is out of range";
    case FM_ERR_SHAPE: return "the data's number of features differs from the model's";
    case FM_ERR_DTYPE: return "unsupported element type, or the model and data types differ";
    case FM_ERR_NOMEM: return "out of memory";
    case FM_ERR_DIVERGED: return "training diverged: the loss became NaN or infinite";
    case FM_ERR_INDPTR: return "indptr is not a valid CSR row pointer array";
    case FM_ERR_INDEX_RANGE: return "a column index is out of range";
    case FM_ERR_UNSORTED: return "column indices within a row are not sorted";
    case FM_ERR_DUPLICATE: return "a column index is repeated within a row";
    case FM_ERR_NONFINITE: return "a value is NaN or infinite";
    case FM_ERR_TEXT: return "a malformed line in a data file";
    default: return "unknown status";
    }
}

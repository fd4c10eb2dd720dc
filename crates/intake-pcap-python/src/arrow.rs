//! Arrow across the boundary through the Arrow PyCapsule interface: schemas and record
//! batches leave as C data (`__arrow_c_schema__`, `__arrow_c_array__`), so pyarrow takes
//! the buffers without a copy; tables to write come in as a C stream (`__arrow_c_stream__`).

use std::ffi::CStr;

use arrow_array::ffi::{to_ffi, FFI_ArrowSchema};
use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::SchemaRef;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

use crate::errors::{guard, CaptureError};

// The capsule names the PyCapsule interface specifies.
const SCHEMA_CAPSULE: &CStr = c"arrow_schema";
const ARRAY_CAPSULE: &CStr = c"arrow_array";
const STREAM_CAPSULE: &CStr = c"arrow_array_stream";

/// An Arrow schema, readable by `pyarrow.schema(obj)`.
#[pyclass(module = "intake_pcap._native", frozen)]
pub(crate) struct ArrowSchema {
    pub(crate) schema: SchemaRef,
}

#[pymethods]
impl ArrowSchema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        guard("exporting an Arrow schema", || {
            let ffi = FFI_ArrowSchema::try_from(self.schema.as_ref())
                .map_err(|e| CaptureError::new_err(e.to_string()))?;
            PyCapsule::new_with_value(py, ffi, SCHEMA_CAPSULE)
        })
    }
}

/// One record batch, readable by `pyarrow.record_batch(obj)` without copying.
#[pyclass(module = "intake_pcap._native", frozen)]
pub(crate) struct ArrowBatch {
    pub(crate) batch: RecordBatch,
}

#[pymethods]
impl ArrowBatch {
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        // We always export our own schema; pyarrow casts afterwards if it asked for another.
        let _ = requested_schema;
        guard("exporting an Arrow batch", || {
            let data = StructArray::from(self.batch.clone()).into_data();
            let (array, schema) =
                to_ffi(&data).map_err(|e| CaptureError::new_err(e.to_string()))?;
            let schema = PyCapsule::new_with_value(py, schema, SCHEMA_CAPSULE)?;
            let array = PyCapsule::new_with_value(py, array, ARRAY_CAPSULE)?;
            PyTuple::new(py, [schema.into_any(), array.into_any()])
        })
    }
}

/// The record batches of `table`: anything with `__arrow_c_stream__` (a pyarrow Table or
/// RecordBatchReader, a polars DataFrame, ...).
pub(crate) fn import_stream(table: &Bound<'_, PyAny>) -> PyResult<RecordBatchStreamReader> {
    let capsule = table.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(STREAM_CAPSULE))?;
    // SAFETY: the capsule holds an FFI_ArrowArrayStream (checked by name); from_raw moves
    // it out and leaves a released stream behind for the capsule's destructor.
    unsafe { RecordBatchStreamReader::from_raw(pointer.as_ptr() as *mut FFI_ArrowArrayStream) }
        .map_err(|e| PyValueError::new_err(format!("not an Arrow stream: {e}")))
}
